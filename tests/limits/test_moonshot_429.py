"""Moonshot's TPM and TPD 429s (which name no wait) through the real openai SDK and the emulator:
a TPM 429 retry waits the limiter's window estimate rather than the 1 s placeholder; a TPD 429
stops further calls of that model, on both backends, while other models keep working."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from core import errors
from core.catalog import Catalog, builtin_catalog
from core.kimi import KimiClient, RetryPolicy
from core.limits import (
    Backend,
    DailyLimitExceeded,
    FakeClock,
    InProcessBackend,
    LimitedKimi,
    Limiter,
    build_limiter,
)
from emulators.moonshot import Fault, MoonshotEmulator
from tests.limits.helpers import MODEL, START, catalog, limiter

KEY = "sk-moonshot-429"
MESSAGES = [{"role": "user", "content": "how full is the window?"}]


def tpm_catalog() -> Catalog:
    base = builtin_catalog()
    spec = replace(base.get("kimi-k2"), rpm=1000, tpm=10_000, concurrency=10)
    return Catalog(models={"kimi-k2": spec}, user_limits={})


async def drive(
    clock: FakeClock, task: asyncio.Future[Any], requests: Callable[[], int]
) -> list[float]:
    """Run ``task`` on the fake clock (time jumps only while nothing but sleepers is pending);
    returns the fake time at which each request reached the emulator."""
    seen: list[float] = []
    settled: tuple[float, int] | None = None
    while not task.done():
        await asyncio.sleep(0.005)  # real time for HTTP round trips
        seen += [clock.now()] * (requests() - len(seen))
        deadline = clock.next_deadline()
        if deadline is None:
            continue
        # Jump only once two polls agree: on a loaded machine a 429 can still be on its way
        # after 5 ms, and the only sleeper then is a far deadline the answer would replace.
        if settled != (deadline, requests()):
            settled = (deadline, requests())
            continue
        clock.advance_to(deadline)
        settled = None
    seen += [clock.now()] * (requests() - len(seen))
    await task
    return seen


async def test_a_tpm_429_retry_waits_the_window_estimate_not_one_second() -> None:
    cat = tpm_catalog()
    spec = cat.get("kimi-k2")
    clock = FakeClock(START)
    lim = Limiter(cat, InProcessBackend(), clock=clock, margin=0.0, release_grace=0.0)
    lim.max_wait = 1e6
    async with lim.admit(model=spec.id, user_id="other", prompt_tokens=500, max_tokens=500):
        pass  # 1000 tokens at t=0: our window is far from 10 000 (and from half of it)
    clock.advance_to(START + 10)
    async with MoonshotEmulator(api_key=KEY, catalog=cat, enforce_limits=False) as emulator:
        client = KimiClient(
            api_key=KEY,
            base_url=emulator.base_url,
            policy=RetryPolicy(max_retries=2),
            sleep=clock.sleep,
        )
        notices: list[float] = []
        announced: list[float] = []

        async def on_wait(seconds: float) -> None:
            notices.append(seconds)

        async def on_retry(error: errors.KimiError, delay: float, _attempt: int) -> None:
            assert isinstance(error, errors.RateLimited) and not error.wait_given
            announced.append(delay)

        kimi = LimitedKimi(client, lim, user_id="ada", on_wait=on_wait)
        emulator.inject(Fault("tpm_limit"))
        call = asyncio.ensure_future(
            kimi.stream(model=spec, messages=MESSAGES, max_tokens=300, on_retry=on_retry)
        )
        sent = await drive(clock, call, lambda: len(emulator.requests))
        assert call.result().text
        # Moonshot's window is full; ours, taken as full, has room for this call (< 1000
        # tokens) once the t=0 entry leaves it, at t=60: the retry goes then, not at t=11.
        assert sent == [pytest.approx(START + 10, abs=1e-3), pytest.approx(START + 60, abs=1e-3)]
        assert announced == [pytest.approx(50.0)]
        assert len(notices) == 1 and 48.7 <= notices[0] <= 49.0  # 50 s minus the client's delay
        assert emulator.rate_limited_count == 1
        scope = lim.backend._scopes[(spec.id, "account")]  # type: ignore[attr-defined]
        assert len(scope.entries) == 3  # the earlier call, the 429'd attempt and the retry
        assert (await lim.penalty(spec.id)).factor == 0.5  # lowered as after any 429
        await client.close()
    await lim.close()


async def test_the_tpm_estimate_is_a_whole_window_when_our_log_is_light(
    new_backend: Callable[[], Backend],
) -> None:
    """Both backends: the pause is until enough of our tokens leave the window, else all of it;
    every call of the model waits for it."""
    clock = FakeClock(START)
    lim = limiter(catalog(rpm=1000, tpm=10_000, concurrency=10), new_backend(), clock)
    lim.max_wait = 1e6
    for at, tokens in ((0, 400), (5, 600)):
        clock.advance_to(START + at)
        async with lim.admit(model=MODEL, user_id="a", prompt_tokens=tokens, max_tokens=0):
            pass
    clock.advance_to(START + 20)
    assert await lim.tpm_wait(MODEL, 300) == pytest.approx(40.0)  # the t=0 entry frees 400
    assert await lim.tpm_wait(MODEL, 900) == pytest.approx(45.0)  # t=0 and t=5 together
    assert await lim.tpm_wait(MODEL, 5000) == pytest.approx(60.0)  # the rest is not ours
    penalty = await lim.penalize(MODEL, None, tokens=900)
    assert penalty.block_until == pytest.approx(START + 65) and penalty.factor == 0.5
    await lim.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_tpd_429_stops_the_model_for_the_rest_of_the_day(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """Real clocks (the turn of the day is in test_daily.py); with Redis, two workers."""
    redis_url = request.getfixturevalue("redis_url") if kind == "redis" else None
    base = builtin_catalog()
    cat = Catalog(
        models={"kimi-k2": base.get("kimi-k2"), "moonshot-v1-8k": base.get("moonshot-v1-8k")},
        user_limits={},
    )
    settings = SimpleNamespace(redis_url=redis_url, limit_max_wait=60.0)
    first = build_limiter(settings, cat)
    workers = [first, build_limiter(settings, cat) if redis_url else first]
    async with MoonshotEmulator(api_key=KEY, catalog=cat, enforce_limits=False) as emulator:
        client = KimiClient(api_key=KEY, base_url=emulator.base_url)
        emulator.inject(Fault("tpd_limit"))
        spec = cat.get("kimi-k2")
        with pytest.raises(errors.DailyLimitReached) as moonshot:
            await LimitedKimi(client, workers[0], user_id="ada").stream(
                model=spec, messages=MESSAGES, max_tokens=50
            )
        assert moonshot.value.model == "kimi-k2" and moonshot.value.alerts_admins
        assert len(emulator.requests) == 1  # not retried
        for worker in workers:  # the other worker shares the mark through Redis
            with pytest.raises(DailyLimitExceeded) as refused:
                await LimitedKimi(client, worker, user_id="bob").stream(
                    model=spec, messages=MESSAGES, max_tokens=50
                )
            assert refused.value.model == "kimi-k2" and refused.value.alerts_admins
            assert 0 < refused.value.retry_after_seconds <= 86_400
        assert len(emulator.requests) == 1  # neither reached Moonshot
        other = await LimitedKimi(client, workers[1], user_id="bob").stream(
            model=cat.get("moonshot-v1-8k"), messages=MESSAGES, max_tokens=50
        )
        assert other.text and len(emulator.requests) == 2
        await client.close()
    for worker in set(workers):
        await worker.close()
