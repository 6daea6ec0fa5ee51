"""Tokens per day, on a simulated clock, for the in-process and Redis backends: the catalog's
``tpd`` refuses at once (before Moonshot) and recovers when the day turns in Asia/Shanghai;
Moonshot's own TPD 429 spends the model's day for every worker; other models keep working."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY

from core import errors, texts
from core.catalog import Catalog, ModelSpec
from core.kimi import Completion, Usage
from core.limits import Backend, DailyLimitExceeded, FakeClock, LimitedKimi, Limiter
from tests.limits.helpers import MODEL, Sim, limiter

OTHER = "other"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# 23:59 in Shanghai is 15:59 UTC: the day turns in 60 s there, in 8 h in UTC.
BEFORE_MIDNIGHT = datetime(2026, 3, 1, 23, 59, tzinfo=SHANGHAI).timestamp()
MESSAGES = [{"role": "user", "content": "hi"}]


def daily_catalog(tpd: int = 1000) -> Catalog:
    spec = ModelSpec(MODEL, 1_000_000, 100_000, 12.0, 36.0, 1000, 10**7, 100, tpd=tpd)
    other = replace(spec, id=OTHER, tpd=None)
    return Catalog(models={MODEL: spec, OTHER: other}, user_limits={})


def refusals(model: str = MODEL) -> float:
    labels = {"model": model, "scope": "account", "limit": "tpd"}
    return REGISTRY.get_sample_value("kimi_limiter_refusals_total", labels) or 0.0


async def call(lim: Limiter, tokens: int, *, model: str = MODEL, used: int | None = None) -> None:
    """One admitted call of ``tokens`` (prompt = max_tokens = half); ``used``: the actual prompt
    Moonshot reports (reconciled as ``used + max_tokens``)."""
    notices: list[float] = []

    async def on_wait(seconds: float) -> None:
        notices.append(seconds)

    async with lim.admit(
        model=model,
        user_id="ada",
        prompt_tokens=tokens // 2,
        max_tokens=tokens // 2,
        on_wait=on_wait,
    ) as permit:
        if used is not None:
            permit.reconcile(used, 1)
    assert notices == []  # nothing about the day ever queues


async def test_the_catalogs_tpd_refuses_at_once_and_recovers_when_the_day_turns(
    new_backend: Callable[[], Backend],
) -> None:
    clock = FakeClock(BEFORE_MIDNIGHT)
    lim = limiter(daily_catalog(tpd=1000), new_backend(), clock, max_wait=1e6)
    before = refusals()
    await call(lim, 400, used=100)  # reconciled to 100 + 200
    await call(lim, 400)
    assert await lim.day_usage(MODEL) == (700, False)
    with pytest.raises(DailyLimitExceeded) as caught:
        await call(lim, 400)
    refused = caught.value
    assert isinstance(refused, errors.DailyLimitReached) and refused.alerts_admins
    assert refused.model == MODEL and refused.kind == "daily_limit"
    assert refused.retry_after_seconds == 60.0  # until midnight in Shanghai, not UTC
    assert clock.now() == BEFORE_MIDNIGHT  # refused without any wait
    assert texts.error_text(refused) == texts.text("kimi_daily_limit")
    assert refusals() == before + 1
    await call(lim, 300)  # a smaller one still fits: 700 + 300 = 1000
    await call(lim, 10**6, model=OTHER)  # a model without tpd is not affected

    clock.advance_to(BEFORE_MIDNIGHT + 60)  # 00:00 in Shanghai
    assert await lim.day_usage(MODEL) == (0, False)
    await call(lim, 400)
    assert await lim.day_usage(MODEL) == (400, False)
    await lim.close()


async def test_a_request_bigger_than_tpd_passes_on_an_empty_day_only(
    new_backend: Callable[[], Backend],
) -> None:
    lim = limiter(daily_catalog(tpd=100), new_backend(), FakeClock(BEFORE_MIDNIGHT))
    await call(lim, 500)  # counted as the whole limit, as for TPM, so it is not stuck forever
    with pytest.raises(DailyLimitExceeded):
        await call(lim, 2)
    await lim.close()


class DailyStub:
    """A chat model whose first call gets Moonshot's TPD 429; counts the calls that reach it."""

    def __init__(self) -> None:
        self.calls = 0

    async def stream(self, *, model: ModelSpec, **_: object) -> Completion:
        self.calls += 1
        if self.calls == 1:
            raise errors.DailyLimitReached(
                "429 rate_limit_reached_error: request reached organization TPD rate limit, "
                "current:1500000, limit:1500000",
                model=model.id,
            )
        return Completion(text="ok", usage=Usage(prompt_tokens=5, completion_tokens=1))


async def test_moonshots_tpd_429_spends_the_day_for_every_worker(
    backend_kind: str, new_backend: Callable[[], Backend]
) -> None:
    clock = FakeClock(BEFORE_MIDNIGHT)
    catalog = daily_catalog(tpd=10**9)  # our own count is far from the limit
    first = new_backend()
    second = new_backend() if backend_kind == "redis" else first  # Redis: another worker
    workers = [limiter(catalog, first, clock), limiter(catalog, second, clock)]
    sim = Sim(clock, *workers)
    stub = DailyStub()
    spec, other = catalog.get(MODEL), catalog.get(OTHER)

    def kimi(worker: int, user: str) -> LimitedKimi:
        return LimitedKimi(stub, workers[worker], user_id=user)  # type: ignore[arg-type]

    with pytest.raises(errors.DailyLimitReached) as moonshot:
        await sim.run(kimi(0, "ada").stream(model=spec, messages=MESSAGES, max_tokens=10))
    assert not isinstance(moonshot.value, DailyLimitExceeded)  # Moonshot's own answer
    assert stub.calls == 1
    for worker, user in ((0, "ada"), (1, "bob")):
        with pytest.raises(DailyLimitExceeded) as caught:
            await sim.run(kimi(worker, user).stream(model=spec, messages=MESSAGES, max_tokens=10))
        assert caught.value.model == MODEL and caught.value.retry_after_seconds == 60.0
    assert stub.calls == 1  # neither reached Moonshot
    assert (await workers[1].day_usage(MODEL))[1] is True
    answer = await sim.run(kimi(1, "bob").stream(model=other, messages=MESSAGES, max_tokens=10))
    assert answer.text == "ok" and stub.calls == 2  # other models keep working

    await sim.run_until(BEFORE_MIDNIGHT + 60)  # the day turns in Shanghai
    answer = await sim.run(kimi(1, "bob").stream(model=spec, messages=MESSAGES, max_tokens=10))
    assert answer.text == "ok" and stub.calls == 3
    for worker in workers:
        await worker.close()


async def test_a_call_queued_for_another_limit_is_refused_when_the_day_is_spent(
    new_backend: Callable[[], Backend],
) -> None:
    clock = FakeClock(BEFORE_MIDNIGHT)
    cat = daily_catalog()
    one_slot = replace(cat, models={MODEL: replace(cat.get(MODEL), concurrency=1)})
    lim = limiter(one_slot, new_backend(), clock, max_wait=1e6)
    sim = Sim(clock, lim)
    notices: list[float] = []

    async def on_wait(seconds: float) -> None:
        notices.append(seconds)

    async def queued() -> None:
        async with lim.admit(
            model=MODEL, user_id="bob", prompt_tokens=5, max_tokens=5, on_wait=on_wait
        ):
            pass

    held = await lim.acquire(model=MODEL, user_id="ada", prompt_tokens=1, max_tokens=1)
    task = asyncio.ensure_future(queued())
    await sim.run_for(5)
    assert not task.done() and lim.waiting(MODEL) == 1 and len(notices) == 1  # for the slot
    await lim.spend_day(MODEL)
    await sim.settle()
    assert task.done() and isinstance(task.exception(), DailyLimitExceeded)
    assert lim.waiting(MODEL) == 0 and clock.now() == BEFORE_MIDNIGHT + 5
    await held.release()
    await lim.close()
