"""Conversation locks across workers: Redis (leases with fencing) and PostgreSQL advisory locks.

Two lock objects with their own connections stand for two worker processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as redis

from core.engine import LockLost
from core.locks import InProcessLocks, LocalFirst, current_fence
from core.redis_locks import RedisLocks
from core.service import build_locks
from core.types import Author, CollectingSink, ConversationKey, Incoming
from storage import Database
from storage.advisory_locks import AdvisoryLocks
from tests.conftest import make_settings


@pytest.fixture
async def new_locks(redis_url: str) -> AsyncIterator[Callable[..., RedisLocks]]:
    """``new_locks(lease=…)``: a RedisLocks with its own client, like another worker's."""
    made: list[RedisLocks] = []

    def make(**options: Any) -> RedisLocks:
        client = redis.from_url(redis_url, decode_responses=True)
        locks = RedisLocks(client, owns_client=True, **options)
        made.append(locks)
        return locks

    yield make
    for locks in made:
        await locks.close()


async def overlapping(locks: list[Any], conversation: int, rounds: int = 5) -> list[bool]:
    """Run ``rounds`` turns per lock object at once; fail if two ever overlap. Returns waited."""
    inside = 0
    waited: list[bool] = []

    async def turn(lock: Any) -> None:
        nonlocal inside
        async with lock.hold(conversation) as was_waiting:
            waited.append(was_waiting)
            inside += 1
            assert inside == 1, "two turns of one conversation overlapped"
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(turn(lock) for lock in locks for _ in range(rounds)))
    return waited


async def test_redis_locks_exclude_each_other_across_instances(new_locks) -> None:
    a, b = new_locks(), new_locks()
    waited = await overlapping([a, b], conversation=1)
    assert len(waited) == 10 and any(waited)
    # Other conversations are independent: holding 1 does not delay 2.
    async with a.hold(1) as first, b.hold(2) as second:
        assert (first, second) == (False, False)


async def test_local_first_queues_in_arrival_order(new_locks) -> None:
    locks = LocalFirst(new_locks())
    order: list[int] = []

    async def turn(n: int) -> None:
        async with locks.hold(7):
            order.append(n)
            await asyncio.sleep(0.01)

    tasks = []
    for n in range(5):
        tasks.append(asyncio.create_task(turn(n)))
        await asyncio.sleep(0)  # each starts waiting before the next arrives
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_a_held_lock_is_renewed_beyond_its_lease(new_locks) -> None:
    holder, other = new_locks(lease=0.3), new_locks(lease=0.3)
    async with holder.hold(3):
        for _ in range(4):  # 1.2 s, four leases
            await asyncio.sleep(0.3)
            assert not await other.new_lease(3).try_acquire(), "renewal kept it"
    assert await other.new_lease(3).try_acquire(), "released at the end"


async def test_released_on_error_and_on_cancellation(new_locks) -> None:
    locks, other = new_locks(), new_locks()
    with pytest.raises(RuntimeError):
        async with locks.hold(4):
            raise RuntimeError("the turn failed")
    async with other.hold(4) as waited:
        assert not waited

    entered = asyncio.Event()

    async def long_turn() -> None:
        async with locks.hold(4):
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(long_turn())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.monotonic()
    async with other.hold(4):
        assert time.monotonic() - started < 1.0, "the cancelled turn released at once"

    # Cancelled while waiting: nothing is left behind either.
    async with other.hold(4):
        waiter = asyncio.create_task(_enter(locks, 4))
        await asyncio.sleep(0.1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert await new_locks().new_lease(4).try_acquire()


async def _enter(locks: RedisLocks, conversation: int) -> None:
    async with locks.hold(conversation):
        pass


async def test_a_crashed_holders_lease_lapses(new_locks) -> None:
    crashed, alive = new_locks(lease=0.5), new_locks(lease=0.5)
    # A worker that took the lock and died: no renewal, no release.
    assert await crashed.new_lease(5).try_acquire()
    started = time.monotonic()
    async with alive.hold(5) as waited:
        elapsed = time.monotonic() - started
    assert waited and 0.3 < elapsed < 2.0


async def test_each_acquisition_gets_a_larger_fencing_token(new_locks) -> None:
    a, b = new_locks(), new_locks()
    assert current_fence.get() is None
    fences = []
    for locks in (a, b, a):
        async with locks.hold(6):
            lease = current_fence.get()
            assert lease is not None
            fences.append(lease.fence)
    assert current_fence.get() is None
    assert fences == sorted(fences) and len(set(fences)) == 3


async def test_a_lapsed_lease_cannot_release_or_renew_the_next_owners(new_locks) -> None:
    a, b = new_locks(lease=0.2), new_locks(lease=5)
    first = a.new_lease(8)
    assert await first.try_acquire()
    await asyncio.sleep(0.3)  # lapsed
    second = b.new_lease(8)
    assert await second.try_acquire()
    assert not await first.release(), "compare-and-delete: not ours any more"
    assert not await first.renew() and first.lost
    assert not await b.new_lease(8).try_acquire(), "the new owner still holds it"
    assert second.fence > first.fence


# -- fencing in the engine ------------------------------------------------------------------------

KEY = ConversationKey(platform="slack", workspace="T1", chat="D1")


def ask(text: str) -> Incoming:
    return Incoming(key=KEY, author=Author(id="slack:U1", name="Ann"), text=text)


async def test_advance_fence_only_moves_forward(db: Database) -> None:
    conversation = await db.conversations.get_or_create(KEY, is_group=False)
    assert await db.conversations.advance_fence(conversation.id, 5)
    assert not await db.conversations.advance_fence(conversation.id, 5)
    assert not await db.conversations.advance_fence(conversation.id, 3)
    assert await db.conversations.advance_fence(conversation.id, 6)
    assert await db.conversations.fence(conversation.id) == 6


async def test_engine_resyncs_a_counter_behind_the_database(services, redis_url: str) -> None:
    """Redis lost its data: the counter restarts below the stored token; the owner goes on."""
    locks = RedisLocks.from_url(redis_url)
    services.engine._locks = LocalFirst(locks)
    try:
        conversation = await services.db.conversations.get_or_create(KEY, is_group=False)
        assert await services.db.conversations.advance_fence(conversation.id, 1000)
        sink = CollectingSink()
        outcome = await services.engine.handle(ask("still answered?"), sink)
        assert outcome is not None and outcome.status == "complete"
        assert await services.db.conversations.fence(conversation.id) == 1001
    finally:
        await locks.close()


class _StaleLease:
    """A lease whose lock was taken over: a newer token is in the database and refence fails."""

    fence = 3

    async def refence(self, floor: int) -> bool:
        return False


async def test_engine_refuses_a_turn_whose_lock_was_taken_over(services) -> None:
    conversation = await services.db.conversations.get_or_create(KEY, is_group=False)
    assert await services.db.conversations.advance_fence(conversation.id, 10)
    token = current_fence.set(_StaleLease())
    try:
        with pytest.raises(LockLost):
            await services.engine._check_fence(conversation.id)
    finally:
        current_fence.reset(token)


# -- PostgreSQL advisory locks ----------------------------------------------------------------------


async def test_advisory_locks_exclude_each_other_across_instances(postgres_url: str) -> None:
    waited = await overlapping([AdvisoryLocks(postgres_url), AdvisoryLocks(postgres_url)], 11)
    assert len(waited) == 10 and any(waited)


async def test_advisory_lock_is_released_when_the_holder_is_cancelled(postgres_url: str) -> None:
    a, b = AdvisoryLocks(postgres_url), AdvisoryLocks(postgres_url)
    entered = asyncio.Event()

    async def holder() -> None:
        async with a.hold(12):
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(holder())
    await entered.wait()
    waiter = asyncio.create_task(_enter(b, 12))  # type: ignore[arg-type]
    await asyncio.sleep(0.2)
    assert not waiter.done(), "waits while the other holds it"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(waiter, 5)


# -- which locks a deployment gets -------------------------------------------------------------------


async def test_build_locks_picks_redis_then_postgresql_then_in_process(
    moonshot, sqlite_url: str, postgres_url: str, redis_url: str
) -> None:
    sqlite = make_settings(moonshot.base_url, sqlite_url)
    postgres = make_settings(moonshot.base_url, postgres_url)
    both = make_settings(moonshot.base_url, postgres_url, redis_url=redis_url)
    client = redis.from_url(redis_url)
    dbs = [Database(s.database_url) for s in (sqlite, postgres, both)]
    try:
        assert isinstance(build_locks(sqlite, dbs[0]), InProcessLocks)
        pg_locks = build_locks(postgres, dbs[1])
        assert isinstance(pg_locks, LocalFirst) and isinstance(pg_locks.shared, AdvisoryLocks)
        redis_locks = build_locks(both, dbs[2], client)
        assert isinstance(redis_locks, LocalFirst) and isinstance(redis_locks.shared, RedisLocks)
    finally:
        await client.aclose()
        for db in dbs:
            await db.close()
