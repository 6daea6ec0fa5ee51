"""Limiter behaviour with exact numbers on a simulated clock, for the in-process and Redis backends:
fairness, release on cancel/error, reconciliation, client retries, 429 penalties, refusals with a
retry time, leases of crashed workers, and the texts users see."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.limits import (
    ACCOUNT,
    USER,
    Backend,
    FakeClock,
    InProcessBackend,
    Limiter,
    LimitExceeded,
    Permit,
    RedisBackend,
    build_limiter,
    format_duration,
    wait_notice,
)
from tests.limits.helpers import MODEL, START, Sim, catalog, limiter, make_backend

NewBackend = Callable[[], Backend]


@dataclass
class Job:
    user: str
    at: float
    prompt: int
    max_tokens: int
    hold: float | None  # None: hold until ``finish`` is set
    body: Callable[[Permit], Awaitable[None]] | None = None
    notices: list[float] = field(default_factory=list)
    permit: Permit | None = None
    admitted_at: float | None = None
    refused: LimitExceeded | None = None
    refused_at: float | None = None
    failed: BaseException | None = None
    finish: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def waited(self) -> float:
        assert self.admitted_at is not None
        return self.admitted_at - (START + self.at)


class World:
    def __init__(self, *limiters: Limiter) -> None:
        self.clock = limiters[0].clock
        assert isinstance(self.clock, FakeClock)
        self.limiters = limiters
        self.sim = Sim(self.clock, *limiters)
        self.jobs: list[Job] = []

    def start(
        self,
        user: str,
        at: float = 0.0,
        *,
        prompt: int = 10,
        max_tokens: int = 10,
        hold: float | None = 1.0,
        body: Callable[[Permit], Awaitable[None]] | None = None,
        worker: int = 0,
    ) -> Job:
        job = Job(user, at, prompt, max_tokens, hold, body)
        job.task = asyncio.ensure_future(self._run(job, self.limiters[worker]))
        self.jobs.append(job)
        return job

    async def _run(self, job: Job, lim: Limiter) -> None:
        await self.clock.sleep(START + job.at - self.clock.now())

        async def on_wait(seconds: float) -> None:
            job.notices.append(seconds)

        try:
            async with lim.admit(
                model=MODEL,
                user_id=job.user,
                prompt_tokens=job.prompt,
                max_tokens=job.max_tokens,
                on_wait=on_wait,
            ) as permit:
                job.permit, job.admitted_at = permit, self.clock.now()
                if job.body is not None:
                    await job.body(permit)
                elif job.hold is None:
                    await job.finish.wait()
                else:
                    await self.clock.sleep(job.hold)
        except LimitExceeded as exc:
            job.refused, job.refused_at = exc, self.clock.now()
        except Exception as exc:
            job.failed = exc

    async def until(self, t: float) -> None:
        await self.sim.run_until(START + t)

    async def end(self) -> None:
        for job in self.jobs:
            job.finish.set()
        tasks = [j.task for j in self.jobs if j.task is not None]
        await self.sim.run(asyncio.gather(*tasks, return_exceptions=True))
        for lim in self.limiters:
            await lim.close()


def world(new_backend: NewBackend, cat, **options) -> World:  # type: ignore[no-untyped-def]
    return World(limiter(cat, new_backend(), FakeClock(START), **options))


async def in_flight(lim: Limiter, user: str | None = None) -> int:
    return await lim.backend.in_flight(MODEL, user, now=lim.clock.now())  # type: ignore[attr-defined]


# -- fairness ----------------------------------------------------------------------------------


async def test_round_robin_serves_light_users_before_a_heavy_backlog(new_backend) -> None:
    w = world(new_backend, catalog(rpm=6, tpm=10**6, concurrency=50), max_wait=1e6)
    heavy = [w.start("heavy") for _ in range(30)]
    light = [w.start(f"light{i}", at=float(i)) for i in (1, 2, 3)]
    await w.until(59.9)
    assert sum(j.admitted_at is not None for j in heavy) == 6
    assert all(j.admitted_at is None for j in light)
    # Light users (never served) go ahead of the heavy one. The estimate: the account's next
    # free moment + one interval (60 s / RPM) per call ahead.
    assert [j.notices for j in light] == [[59.0], [58.0 + 10], [57.0 + 20]]
    await w.until(60.0)
    # Six slots free at t=60: light1, light2, light3, then the heavy user three times.
    assert [j.admitted_at for j in light] == [START + 60] * 3
    assert sum(j.admitted_at == START + 60 for j in heavy) == 3
    await w.end()
    assert all(j.admitted_at is not None for j in heavy)
    assert max(j.admitted_at for j in heavy) == START + 300  # 30 heavy + 3 light at 6/minute


@settings(max_examples=30, deadline=None)
@given(
    rpm=st.integers(1, 4),
    backlog=st.integers(5, 25),
    lights=st.lists(st.integers(0, 600), min_size=1, max_size=5),
)
def test_light_users_wait_at_most_one_round(rpm: int, backlog: int, lights: list[int]) -> None:
    """Whatever the heavy user's backlog, a light user waits for at most one admission per
    user in the round: ceil(users / rpm) windows."""

    async def scenario() -> None:
        w = World(limiter(catalog(rpm, 10**6, 100), InProcessBackend(), FakeClock(START)))
        w.limiters[0].max_wait = 1e9
        for _ in range(backlog):
            w.start("heavy")
        light = [w.start(f"light{i}", at=at / 10) for i, at in enumerate(lights)]
        await w.end()
        bound = math.ceil((len(lights) + 1) / rpm) * w.limiters[0].window
        assert all(j.admitted_at is not None for j in light)
        assert max(j.waited for j in light) <= bound

    asyncio.run(scenario())


async def test_a_user_held_by_their_own_limit_does_not_block_others(new_backend) -> None:
    cat = catalog(rpm=10, tpm=10**6, concurrency=10, user_limits={"rpm": 1})
    w = world(new_backend, cat, max_wait=1e6)
    first = w.start("alice")
    second = w.start("alice", at=1)
    bob = w.start("bob", at=2)
    await w.until(2)
    assert first.admitted_at == START and second.admitted_at is None
    assert bob.admitted_at == START + 2 and bob.notices == []
    assert second.notices == [59.0]
    await w.until(60)
    assert second.admitted_at == START + 60
    await w.end()


async def test_a_user_at_their_own_concurrency_does_not_hold_up_the_queue(new_backend) -> None:
    cat = catalog(rpm=100, tpm=10**6, concurrency=10, user_limits={"concurrency": 1})
    w = world(new_backend, cat, max_wait=1e6)
    w.start("alice", hold=None)
    w.start("bob", at=1)
    alice_again = w.start("alice", at=2)
    bob_again = w.start("bob", at=3)  # alice is ahead in the queue (served earlier), but blocked
    await w.until(3)
    assert alice_again.admitted_at is None
    assert bob_again.admitted_at == START + 3 and bob_again.notices == []
    await w.end()


# -- release on every exit ---------------------------------------------------------------------


async def test_cancelling_a_running_call_frees_its_slot(new_backend) -> None:
    w = world(new_backend, catalog(rpm=100, tpm=10**6, concurrency=1), max_wait=1e6)
    a = w.start("a", hold=None)
    b = w.start("b", at=1)
    await w.until(5)
    assert a.admitted_at == START and b.admitted_at is None
    assert await in_flight(w.limiters[0]) == 1
    assert a.task is not None
    a.task.cancel()
    await w.until(5)
    assert b.admitted_at == START + 5
    await w.end()
    assert a.task.cancelled()
    assert await in_flight(w.limiters[0]) == 0
    assert await in_flight(w.limiters[0], "a") == 0


async def test_cancelling_a_waiting_call_leaves_the_queue(new_backend) -> None:
    w = world(new_backend, catalog(rpm=100, tpm=10**6, concurrency=1), max_wait=1e6)
    a = w.start("a", hold=10)
    b = w.start("b", at=1)
    c = w.start("c", at=2)
    await w.until(3)
    assert w.limiters[0].waiting(MODEL) == 2
    assert b.task is not None
    b.task.cancel()
    await w.until(3)
    assert w.limiters[0].waiting(MODEL) == 1
    await w.until(10)
    assert a.admitted_at == START and c.admitted_at == START + 10 and b.admitted_at is None
    await w.end()
    assert await in_flight(w.limiters[0]) == 0


async def test_an_error_in_the_call_frees_its_slot(new_backend) -> None:
    async def crash(_permit: Permit) -> None:
        await w.clock.sleep(2)
        raise RuntimeError("stream broke")

    w = world(new_backend, catalog(rpm=100, tpm=10**6, concurrency=1), max_wait=1e6)
    a = w.start("a", body=crash)
    b = w.start("b", at=1)
    await w.until(2)
    assert isinstance(a.failed, RuntimeError)
    assert b.admitted_at == START + 2
    await w.end()
    assert await in_flight(w.limiters[0]) == 0


async def test_release_grace_keeps_the_slot_briefly(new_backend) -> None:
    w = world(
        new_backend, catalog(rpm=100, tpm=10**6, concurrency=1), max_wait=1e6, release_grace=0.25
    )
    w.start("a", hold=2)
    b = w.start("b", at=1)
    await w.until(2.2)
    assert b.admitted_at is None
    await w.until(2.5)
    assert b.admitted_at is not None and START + 2.25 <= b.admitted_at <= START + 2.5
    await w.end()


# -- reconciliation ------------------------------------------------------------------------------


async def test_reconcile_down_admits_the_next_call_sooner(new_backend) -> None:
    async def call(permit: Permit) -> None:
        await w.clock.sleep(5)
        assert permit.reconcile(100, 50) == 400  # actual prompt + max_tokens, as Moonshot counts

    w = world(new_backend, catalog(rpm=100, tpm=1000, concurrency=10), max_wait=1e6)
    a = w.start("a", prompt=300, max_tokens=300, body=call)
    b = w.start("b", at=1, prompt=300, max_tokens=300)
    await w.until(4.9)
    assert a.permit is not None and a.permit.tokens == 600
    assert b.admitted_at is None and b.notices == [59.0]
    await w.until(5)
    assert b.admitted_at == START + 5  # 400 + 600 fits in 1000
    assert a.permit.tokens == 400
    await w.end()


async def test_reconcile_up_delays_the_next_call_to_the_window_end(new_backend) -> None:
    async def call(permit: Permit) -> None:
        await w.clock.sleep(5)
        permit.reconcile(500, 10)

    w = world(new_backend, catalog(rpm=100, tpm=1300, concurrency=10), max_wait=1e6)
    w.start("a", prompt=300, max_tokens=300, body=call)
    b = w.start("b", at=6, prompt=300, max_tokens=300)
    await w.until(59.9)
    assert b.admitted_at is None  # 800 (reconciled) + 600 > 1300; 600 + 600 would have fit
    await w.until(60)
    assert b.admitted_at == START + 60
    await w.end()


async def test_reconcile_actual_mode_counts_prompt_plus_completion(new_backend) -> None:
    async def call(permit: Permit) -> None:
        assert permit.reconcile(100, 50) == 150

    w = world(
        new_backend,
        catalog(rpm=100, tpm=1000, concurrency=10),
        max_wait=1e6,
        reconcile_mode="actual",
    )
    a = w.start("a", prompt=300, max_tokens=300, body=call)
    b = w.start("b", at=1, prompt=400, max_tokens=450)  # 150 + 850 = 1000 fits
    await w.until(1)
    assert a.permit is not None and a.permit.tokens == 150
    assert b.admitted_at == START + 1
    await w.end()
    with pytest.raises(ValueError):
        Limiter(catalog(1, 1, 1), reconcile_mode="generated")


async def test_a_client_retry_is_counted_when_it_will_be_sent(new_backend) -> None:
    async def call(permit: Permit) -> None:
        await w.clock.sleep(1)
        await permit.retry(delay=5)  # the client's own retry goes out at t=6
        await w.clock.sleep(10)

    w = world(new_backend, catalog(rpm=2, tpm=10**6, concurrency=10), max_wait=1e6)
    a = w.start("a", body=call)
    b = w.start("b", at=2)
    await w.until(3)
    assert a.permit is not None and a.permit.stamps == [START, START + 6]
    assert a.permit.attempts == 2
    assert b.admitted_at is None
    assert b.notices == [58.0]
    await w.until(60)
    assert b.admitted_at == START + 60
    await w.end()


async def test_a_retry_passes_calls_waiting_for_its_slot(new_backend) -> None:
    async def call(permit: Permit) -> None:
        await w.clock.sleep(2)
        await permit.retry(delay=0)  # B waits for the only slot, which this call holds
        retried.append(w.clock.now())
        await w.clock.sleep(1)

    retried: list[float] = []
    w = world(new_backend, catalog(rpm=100, tpm=10**6, concurrency=1), max_wait=1e6)
    a = w.start("a", body=call)
    b = w.start("b", at=1)
    await w.until(3)
    assert retried == [START + 2]
    assert a.permit is not None and a.permit.stamps == [START, START + 2]
    assert b.admitted_at == START + 3
    await w.end()


# -- refusals -----------------------------------------------------------------------------------


async def test_refused_at_once_when_the_wait_is_foreseeably_too_long(new_backend) -> None:
    w = world(new_backend, catalog(rpm=1, tpm=10**6, concurrency=10), max_wait=30)
    w.start("a")
    b = w.start("b", at=1)
    await w.until(1)
    assert b.refused is not None and b.refused_at == START + 1
    assert b.notices == []
    assert b.refused.retry_after_seconds == 59.0
    assert (b.refused.scope, b.refused.limit) == (ACCOUNT, "rpm")
    assert b.refused.localized("en") == (
        "Kimi is at the bot's limit right now (requests per minute). Please try again in 59 s."
    )
    assert b.refused.localized("zh") == (
        "Kimi 当前请求太多（机器人的每分钟请求数已达上限）。请在 59 秒 后重试。"
    )
    await w.end()


async def test_refused_after_max_wait_with_a_retry_time(new_backend) -> None:
    w = world(new_backend, catalog(rpm=100, tpm=10**6, concurrency=1), max_wait=10)
    w.start("a", hold=None)
    b = w.start("b", at=1)
    await w.until(10.9)
    assert b.refused is None and len(b.notices) == 1
    await w.until(11)
    assert b.refused is not None and b.refused_at == START + 11
    assert (b.refused.scope, b.refused.limit, b.refused.model) == (ACCOUNT, "concurrency", MODEL)
    assert b.refused.retry_after_seconds >= 1
    assert "Please try again in" in b.refused.localized("en")
    assert w.limiters[0].waiting(MODEL) == 0
    await w.end()


async def test_user_scope_refusal_says_it_is_the_users_limit(new_backend) -> None:
    cat = catalog(rpm=100, tpm=10**6, concurrency=10, user_limits={"rpm": 2})
    w = world(new_backend, cat, max_wait=20)
    w.start("alice")
    w.start("alice", at=1)
    third = w.start("alice", at=30)
    other = w.start("bob", at=30)
    await w.until(30)
    assert other.admitted_at == START + 30
    assert third.refused is not None
    assert (third.refused.scope, third.refused.limit) == (USER, "rpm")
    assert third.refused.retry_after_seconds == 30.0
    assert third.refused.localized("en").startswith("You are sending requests too fast")
    assert (
        third.refused.localized("zh")
        == "你的请求太频繁了（每分钟请求数已达上限）。请在 30 秒 后重试。"
    )
    await w.end()


async def test_max_wait_zero_never_queues(new_backend) -> None:
    w = world(new_backend, catalog(rpm=100, tpm=10**6, concurrency=1), max_wait=0)
    w.start("a", hold=5)
    b = w.start("b", at=1)
    await w.until(1)
    assert b.refused is not None and b.notices == []
    await w.end()


# -- 429 from Moonshot despite us ---------------------------------------------------------------------


async def test_penalize_pauses_then_halves_the_account_limits(new_backend) -> None:
    w = world(
        new_backend, catalog(rpm=4, tpm=10**6, concurrency=10), max_wait=1e6, penalty_seconds=100
    )
    lim = w.limiters[0]
    penalty = await lim.penalize(MODEL, 10)
    assert (penalty.factor, penalty.block_until) == (0.5, START + 10)
    jobs = [w.start(f"u{i}") for i in range(3)]
    await w.until(9.9)
    assert all(j.admitted_at is None for j in jobs)
    assert jobs[0].notices == [10.0]
    await w.until(10)
    # Effective RPM is now 2: two calls at t=10, the third when the first leaves the window.
    times = sorted(j.admitted_at for j in jobs if j.admitted_at is not None)
    assert times == [START + 10] * 2
    await w.until(70)
    assert sorted(j.admitted_at for j in jobs) == [START + 10] * 2 + [START + 70]  # type: ignore[type-var]
    # Past penalty_seconds the full RPM is back: four more at once.
    later = [w.start(f"v{i}", at=200) for i in range(4)]
    await w.until(200)
    assert [j.admitted_at for j in later] == [START + 200] * 4
    assert (await lim.penalty(MODEL)).factor == 1.0
    await w.end()


async def test_repeated_429s_lower_the_limits_further_and_refuse_long_pauses(new_backend) -> None:
    w = world(new_backend, catalog(rpm=8, tpm=10**6, concurrency=8), max_wait=60)
    lim = w.limiters[0]
    await lim.penalize(MODEL, 1)
    second = await lim.penalize(MODEL, 120)
    assert second.factor == 0.25 and second.block_until == START + 120
    job = w.start("a")
    await w.until(0)
    assert job.refused is not None
    assert (job.refused.scope, job.refused.limit) == (ACCOUNT, "cooldown")
    assert job.refused.retry_after_seconds == 120.0
    assert job.refused.localized("en").endswith("Please try again in 2 min.")
    for _ in range(5):
        await lim.penalize(MODEL, 0)
    assert (await lim.penalty(MODEL)).factor == lim.min_factor
    await w.end()


async def test_under_a_penalty_the_wait_is_for_the_right_entry(new_backend) -> None:
    w = world(new_backend, catalog(rpm=4, tpm=10**6, concurrency=10), max_wait=1e6)
    for t in range(4):
        w.start(f"u{t}", at=float(t))
    await w.until(4)
    await w.limiters[0].penalize(MODEL, 0)  # RPM 4 -> 2 with 4 calls in the window
    late = w.start("late", at=5)
    await w.until(5)
    assert late.notices == [57.0]  # two calls must leave: the one of t=2 does so at t=62
    await w.until(62)
    assert late.admitted_at == START + 62
    await w.end()


# -- Redis: leases and several workers ---------------------------------------------------------------


async def test_a_crashed_workers_slot_expires_with_its_lease(redis_url: str) -> None:
    prefix = f"lease:{uuid.uuid4().hex[:8]}"
    clock = FakeClock(START)
    cat = catalog(rpm=100, tpm=10**6, concurrency=1)
    options = {"max_wait": 1e6, "lease_seconds": 30.0, "poll_interval": 0.25}
    crashed = limiter(cat, make_backend("redis", redis_url, prefix), clock, **options)
    alive = limiter(cat, make_backend("redis", redis_url, prefix), clock, **options)
    w = World(crashed, alive)
    permit = await crashed.acquire(model=MODEL, user_id="a", prompt_tokens=1, max_tokens=1)
    assert permit._heartbeat is not None
    permit._heartbeat.cancel()  # the worker dies: no renewal, no release
    waiting = w.start("b", at=1, worker=1)
    await w.until(29.9)
    assert waiting.admitted_at is None
    await w.until(31)
    assert waiting.admitted_at is not None and START + 30 <= waiting.admitted_at <= START + 30.25
    await w.end()


async def test_the_heartbeat_keeps_a_long_streams_slot(redis_url: str) -> None:
    prefix = f"lease:{uuid.uuid4().hex[:8]}"
    clock = FakeClock(START)
    cat = catalog(rpm=100, tpm=10**6, concurrency=1)
    options = {"max_wait": 1e6, "lease_seconds": 30.0}
    first = limiter(cat, make_backend("redis", redis_url, prefix), clock, **options)
    second = limiter(cat, make_backend("redis", redis_url, prefix), clock, **options)
    w = World(first, second)
    long = w.start("a", hold=100)
    other = w.start("b", at=1, worker=1)
    await w.until(99)
    assert long.admitted_at == START and other.admitted_at is None
    await w.until(101)
    assert other.admitted_at is not None and START + 100 <= other.admitted_at <= START + 100.25
    await w.end()


async def test_two_workers_share_one_window(redis_url: str) -> None:
    prefix = f"shared:{uuid.uuid4().hex[:8]}"
    clock = FakeClock(START)
    cat = catalog(rpm=3, tpm=10**6, concurrency=10)
    workers = [
        limiter(cat, make_backend("redis", redis_url, prefix), clock, max_wait=1e6)
        for _ in range(2)
    ]
    w = World(*workers)
    jobs = [w.start(f"u{i}", worker=i % 2) for i in range(6)]
    await w.until(1)
    assert sum(j.admitted_at is not None for j in jobs) == 3
    await w.until(60)
    assert sorted(j.admitted_at for j in jobs) == [START] * 3 + [START + 60] * 3  # type: ignore[type-var]
    await w.end()


# -- texts and wiring -------------------------------------------------------------------------------------


def test_durations_and_wait_notices() -> None:
    assert format_duration(0.2) == "1 s"
    assert format_duration(59.01) == "60 s"
    assert format_duration(89) == "89 s"
    assert format_duration(90) == "2 min"
    assert format_duration(3 * 3600 + 61) == "3 h 2 min"
    assert format_duration(45, "zh") == "45 秒"
    assert format_duration(600, "zh") == "10 分钟"
    assert wait_notice(12.2) == (
        "Busy right now: your question is queued, expected wait about 13 s…"
    )
    assert wait_notice(12.2, "zh") == "请求较多，正在排队，预计等待约 13 秒…"
    error = LimitExceeded(0.2, USER, limit="concurrency", model=MODEL)
    assert error.retry_after_seconds == 1.0
    assert error.user_message == error.localized("en")
    assert "answers in progress" in error.user_message


async def test_build_limiter_picks_the_backend_from_the_settings(redis_url: str) -> None:
    cat = catalog(1, 1, 1)
    plain = build_limiter(SimpleNamespace(redis_url=None, limit_max_wait=12.0), cat)
    assert isinstance(plain.backend, InProcessBackend) and plain.max_wait == 12.0
    shared = build_limiter(SimpleNamespace(redis_url=redis_url), cat)
    assert isinstance(shared.backend, RedisBackend) and shared.max_wait == 60.0
    async with shared.admit(model=MODEL, user_id="x", prompt_tokens=0, max_tokens=1) as permit:
        assert await shared.backend.in_flight(MODEL, now=shared.clock.now()) == 1
    assert permit.released
    await plain.close()
    await shared.close()
