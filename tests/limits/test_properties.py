"""Property tests of the limiter on a simulated clock, for both backends and for two Redis workers.

For random arrivals (users, sizes, hold times, errors, cancellations, reconciliations):
no window of the limiter's length ever holds more than RPM requests or TPM tokens, per account
and per user; requests in flight never exceed the concurrency limits; every request ends
(admitted, refused or cancelled); and no slot is left held at the end.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.catalog import Limits
from core.limits import FakeClock, LimitExceeded
from tests.limits.helpers import MODEL, START, Sim, catalog, limiter, make_backend


@dataclass(frozen=True)
class Arrival:
    at: float
    user: int
    prompt: int
    max_tokens: int
    hold: float
    outcome: str  # "ok", "error" (exception in the body), "cancel" (task cancelled)
    cancel_after: float
    actual_share: float  # actual prompt / estimate, for the reconciliation
    worker: int


@dataclass(frozen=True)
class Scenario:
    account: Limits
    user_limits: dict[str, int]
    arrivals: list[Arrival]
    max_wait: float
    margin: float
    grace: float
    mode: str


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    rpm = draw(st.integers(1, 5))
    tpm = draw(st.integers(200, 3000))
    conc = draw(st.integers(1, 3))
    user_limits = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "rpm": st.integers(1, rpm),
                "tpm": st.integers(100, tpm),
                "concurrency": st.integers(1, conc),
            },
        )
    )
    biggest = min(tpm, user_limits.get("tpm", tpm))
    users = draw(st.integers(1, 4))
    arrivals = []
    for _ in range(draw(st.integers(1, 22))):
        total = draw(st.integers(2, biggest))
        prompt = draw(st.integers(1, total - 1))
        arrivals.append(
            Arrival(
                at=draw(st.integers(0, 1500)) / 10,
                user=draw(st.integers(0, users - 1)),
                prompt=prompt,
                max_tokens=total - prompt,
                hold=draw(st.integers(0, 400)) / 10,
                outcome=draw(st.sampled_from(["ok", "ok", "ok", "error", "cancel"])),
                cancel_after=draw(st.integers(0, 900)) / 10,
                actual_share=draw(st.sampled_from([0.0, 0.5, 1.0])),
                worker=draw(st.integers(0, 1)),
            )
        )
    return Scenario(
        account=Limits(rpm, tpm, conc),
        user_limits=user_limits,
        arrivals=arrivals,
        max_wait=draw(st.sampled_from([0.0, 20.0, 60.0, 1e6])),
        margin=draw(st.sampled_from([0.0, 0.5])),
        grace=draw(st.sampled_from([0.0, 0.1])),
        mode=draw(st.sampled_from(["reservation", "actual"])),
    )


@dataclass
class Record:
    user: int
    stamp: float
    tokens: int


@dataclass
class Tally:
    records: list[Record] = field(default_factory=list)
    in_flight: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    ended: Counter[str] = field(default_factory=Counter)


async def simulate(kind: str, scenario: Scenario, redis_url: str = "") -> None:
    acct = scenario.account
    cat = catalog(acct.rpm, acct.tpm, acct.concurrency, scenario.user_limits)
    user_limits = cat.user_limits_for(MODEL)
    clock = FakeClock(START)
    prefix = f"prop:{uuid.uuid4().hex[:10]}"
    workers = 2 if kind == "redis2" else 1
    backend_kind = "memory" if kind == "memory" else "redis"
    limiters = [
        limiter(
            cat,
            make_backend(backend_kind, redis_url, prefix),
            clock,
            max_wait=scenario.max_wait,
            margin=scenario.margin,
            release_grace=scenario.grace,
            reconcile_mode=scenario.mode,
        )
        for _ in range(workers)
    ]
    sim = Sim(clock, *limiters)
    tally = Tally()

    async def request(a: Arrival) -> None:
        await clock.sleep(a.at)
        lim = limiters[a.worker % workers]
        try:
            async with lim.admit(
                model=MODEL, user_id=f"u{a.user}", prompt_tokens=a.prompt, max_tokens=a.max_tokens
            ) as permit:
                record = Record(a.user, permit.admitted_at, permit.tokens)
                tally.records.append(record)
                tally.in_flight["account"] += 1
                tally.in_flight[f"u{a.user}"] += 1
                if tally.in_flight["account"] > scenario.account.concurrency:
                    tally.violations.append(f"account concurrency at {clock.now()}")
                if tally.in_flight[f"u{a.user}"] > user_limits.concurrency:
                    tally.violations.append(f"user concurrency at {clock.now()}")
                try:
                    await clock.sleep(a.hold)
                    if a.outcome == "error":
                        raise RuntimeError("the call failed")
                    record.tokens = permit.reconcile(
                        int(a.prompt * a.actual_share), a.max_tokens // 2
                    )
                finally:
                    tally.in_flight["account"] -= 1
                    tally.in_flight[f"u{a.user}"] -= 1
            tally.ended["admitted"] += 1
        except LimitExceeded as exc:
            if exc.retry_after_seconds < 1:
                tally.violations.append("retry_after below 1 s")
            tally.ended["refused"] += 1
        except RuntimeError:
            tally.ended["admitted"] += 1

    async def canceller(task: asyncio.Task[None], a: Arrival) -> None:
        await clock.sleep(a.at + a.cancel_after)
        if not task.done():
            task.cancel()

    tasks = []
    for a in scenario.arrivals:
        task = asyncio.ensure_future(request(a))
        tasks.append(task)
        if a.outcome == "cancel":
            tasks.append(asyncio.ensure_future(canceller(task, a)))
    results = await sim.run(asyncio.gather(*tasks, return_exceptions=True))
    cancelled = sum(isinstance(r, asyncio.CancelledError) for r in results)
    others = [r for r in results if isinstance(r, BaseException)]
    assert len(others) == cancelled, f"unexpected errors: {others}"
    assert sum(tally.ended.values()) + cancelled == len(scenario.arrivals)
    assert not tally.violations, tally.violations

    await sim.run_for(1.0)  # past the release grace
    now = clock.now()
    for lim in limiters[:1]:
        assert await lim.backend.in_flight(MODEL, now=now) == 0
        for user in {a.user for a in scenario.arrivals}:
            assert await lim.backend.in_flight(MODEL, f"u{user}", now=now) == 0

    window = limiters[0].window
    check_windows(tally.records, None, scenario.account, window)
    for user in {r.user for r in tally.records}:
        check_windows(tally.records, user, user_limits, window)
    for lim in limiters:
        await lim.close()


def check_windows(records: list[Record], user: int | None, limits: Limits, window: float) -> None:
    mine = sorted((r for r in records if user is None or r.user == user), key=lambda r: r.stamp)
    for last in mine:
        inside = [r for r in mine if last.stamp - window < r.stamp <= last.stamp]
        scope = "account" if user is None else f"user {user}"
        assert len(inside) <= limits.rpm, f"{scope}: {len(inside)} requests in a window"
        tokens = sum(r.tokens for r in inside)
        assert tokens <= limits.tpm, f"{scope}: {tokens} tokens in a window > {limits.tpm}"


def examples(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@examples(60)
@given(scenario=scenarios())
def test_in_process_windows_and_concurrency_hold(scenario: Scenario) -> None:
    asyncio.run(simulate("memory", scenario))


@examples(20)
@given(scenario=scenarios())
def test_redis_windows_and_concurrency_hold(redis_url: str, scenario: Scenario) -> None:
    asyncio.run(simulate("redis", scenario, redis_url))


@examples(15)
@given(scenario=scenarios())
def test_two_redis_workers_together_respect_the_limits(redis_url: str, scenario: Scenario) -> None:
    asyncio.run(simulate("redis2", scenario, redis_url))


def test_check_windows_catches_an_excess() -> None:
    """The checker itself fails when a window holds too much (so the properties can fail)."""
    records = [Record(0, START, 10), Record(0, START + 59.9, 10)]
    with pytest.raises(AssertionError, match="requests in a window"):
        check_windows(records, None, Limits(1, 100, 1), 60.0)
    with pytest.raises(AssertionError, match="tokens in a window"):
        check_windows(records, None, Limits(5, 15, 1), 60.0)
    check_windows(records, None, Limits(1, 100, 1), 59.8)
