"""LimitedKimi, the KimiClient of a limited turn: admission per call, reconciliation with
Moonshot's usage, retries counted, 429s penalized, one wait notice per turn."""

from __future__ import annotations

import asyncio

import pytest

from core import errors
from core.catalog import builtin_catalog
from core.kimi import Completion, KimiClient, RetryPolicy, Usage
from core.limits import FakeClock, InProcessBackend, Limiter, LimitExceeded
from core.limits.calls import LimitedKimi
from emulators.moonshot import Fault, MoonshotEmulator, ScriptedReply
from tests.limits.helpers import MODEL, START, Sim, catalog

KEY = "sk-limited-kimi"
MESSAGES = [{"role": "user", "content": "hello there"}]


def account(limiter: Limiter, model: str) -> tuple[int, int]:
    """(entries, tokens) in the account window of the in-process backend."""
    scope = limiter.backend._scopes[(model, "account")]  # type: ignore[attr-defined]
    return len(scope.entries), scope.used


async def test_usage_reconciles_and_a_429_retry_is_counted_and_penalized() -> None:
    spec = builtin_catalog().get("kimi-k2")
    limiter = Limiter(builtin_catalog(), InProcessBackend(), release_grace=0.0)
    async with MoonshotEmulator(api_key=KEY, enforce_limits=False) as emulator:
        client = KimiClient(
            api_key=KEY, base_url=emulator.base_url, policy=RetryPolicy(max_retries=2)
        )
        kimi = LimitedKimi(client, limiter, user_id="cli:ada")
        assert kimi.sdk is client.sdk  # everything else is the client's
        emulator.enqueue(
            ScriptedReply(text="hi", usage={"prompt_tokens": 40, "completion_tokens": 7})
        )
        completion = await kimi.stream(model=spec, messages=MESSAGES, max_tokens=100)
        assert completion.text == "hi"
        assert account(limiter, spec.id) == (1, 40 + 100)  # actual prompt + max_tokens

        retries: list[float] = []

        async def on_retry(_error: errors.KimiError, delay: float, _attempt: int) -> None:
            retries.append(delay)

        emulator.inject(Fault("rate_limit", wait_seconds=0))
        await kimi.stream(model=spec, messages=MESSAGES, max_tokens=100, on_retry=on_retry)
        assert len(retries) == 1
        assert account(limiter, spec.id)[0] == 3  # the 429'd attempt counts at Moonshot too
        assert (await limiter.penalty(spec.id)).factor == 0.5

        emulator.inject(Fault("rate_limit", times=5, wait_seconds=0))
        no_retry = KimiClient(
            api_key=KEY, base_url=emulator.base_url, policy=RetryPolicy(max_retries=0)
        )
        with pytest.raises(errors.RateLimited):
            await LimitedKimi(no_retry, limiter, user_id="cli:ada").stream(
                model=spec, messages=MESSAGES, max_tokens=100
            )
        assert (await limiter.penalty(spec.id)).factor == 0.25
        assert await limiter.backend.in_flight(spec.id, now=limiter.clock.now()) == 0
        await client.close()
        await no_retry.close()
    await limiter.close()


class StubKimi:
    """Streams take 10 simulated seconds; answers report 5 prompt tokens."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    async def stream(self, **kwargs: object) -> Completion:
        await self.clock.sleep(10)
        return Completion(text="ok", usage=Usage(prompt_tokens=5, completion_tokens=1))


async def test_one_wait_notice_per_turn_and_refusals_pass_through() -> None:
    clock = FakeClock(START)
    spec = catalog(rpm=2, tpm=10**6, concurrency=5).get(MODEL)
    limiter = Limiter(catalog(rpm=2, tpm=10**6, concurrency=5), clock=clock, margin=0.0)
    limiter.max_wait = 1e6
    sim = Sim(clock, limiter)
    notices: list[float] = []

    async def notice(seconds: float) -> None:
        notices.append(seconds)

    kimi = LimitedKimi(StubKimi(clock), limiter, user_id="u", on_wait=notice)  # type: ignore[arg-type]
    assert kimi.estimate(MESSAGES, [{"type": "function"}]) > kimi.estimate(MESSAGES, None)

    async def turn() -> list[float]:
        for _ in range(4):  # e.g. tool rounds: four calls, the third and fourth must wait
            await kimi.stream(model=spec, messages=MESSAGES, max_tokens=10)
        return [clock.now()]

    assert await sim.run(turn()) == [START + 60 + 10 + 10]
    assert notices == [40.0]  # asked at t=20, the window frees at t=60; shown once
    assert kimi.waited == 40.0  # the fourth call finds the t=10 entry just expired

    limiter.max_wait = 5
    refused = LimitedKimi(StubKimi(clock), limiter, user_id="v")  # type: ignore[arg-type]
    with pytest.raises(LimitExceeded) as caught:
        await sim.run(refused.stream(model=spec, messages=MESSAGES, max_tokens=10))
    assert isinstance(caught.value, errors.KimiError) and caught.value.scope == "account"
    await asyncio.sleep(0)
    await limiter.close()
