"""Conversation locks across workers: Redis (leases with fencing) and PostgreSQL advisory locks.

Two lock objects with their own connections stand for two worker processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import asyncpg
import pytest
import redis.asyncio as redis

from core.assistant import LockLost
from core.locks import InProcessLocks, LocalFirst, current_fence
from core.redis_locks import RedisLocks
from core.service import build_locks, start_services
from core.types import Author, CollectingSink, ConversationKey, Incoming
from storage import Database
from storage.advisory_locks import NAMESPACE, AdvisoryLocks, asyncpg_dsn
from tests.conftest import EMULATOR_KEY, make_settings
from tests.support.messages import ask as support_ask


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


ask = partial(support_ask, key=KEY, author=Author(id="slack:U1", name="Ann"))


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
    services.assistant._locks = LocalFirst(locks)
    try:
        conversation = await services.db.conversations.get_or_create(KEY, is_group=False)
        assert await services.db.conversations.advance_fence(conversation.id, 1000)
        sink = CollectingSink()
        outcome = await services.assistant.handle(ask("still answered?"), sink)
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
            await services.assistant._check_fence(conversation.id)
    finally:
        current_fence.reset(token)


# -- PostgreSQL advisory locks ----------------------------------------------------------------------


@pytest.fixture
async def advisory(postgres_url: str) -> AsyncIterator[Callable[..., AdvisoryLocks]]:
    """``advisory(**options)``: an AdvisoryLocks with its own connections, like another worker's."""
    made: list[AdvisoryLocks] = []

    def make(**options: Any) -> AdvisoryLocks:
        made.append(AdvisoryLocks(postgres_url, **options))
        return made[-1]

    yield make
    for locks in made:
        await locks.close()


async def pg_value(postgres_url: str, query: str, *args: Any) -> Any:
    """One value from the test database, on a connection of its own."""
    connection = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


OUR_ADVISORY_LOCKS = (
    "FROM pg_locks WHERE locktype = 'advisory' AND classid = $1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def lock_connections(postgres_url: str) -> int:
    """Sessions holding or waiting for one of our advisory locks in the test database."""
    return await pg_value(
        postgres_url, f"SELECT count(DISTINCT pid) {OUR_ADVISORY_LOCKS}", NAMESPACE
    )


async def advisory_locks_held(postgres_url: str) -> int:
    """Our advisory locks granted in the test database."""
    return await pg_value(
        postgres_url, f"SELECT count(*) {OUR_ADVISORY_LOCKS} AND granted", NAMESPACE
    )


async def max_connections(postgres_url: str) -> int:
    return int(await pg_value(postgres_url, "SHOW max_connections"))


async def test_advisory_locks_exclude_each_other_across_instances(advisory) -> None:
    waited = await overlapping([advisory(), advisory()], 11)
    assert len(waited) == 10 and any(waited)
    # Other conversations are independent: holding 1 does not delay 2.
    a, b = advisory(), advisory()
    async with a.hold(13) as first, b.hold(14) as second:
        assert (first, second) == (False, False)


async def test_advisory_locks_exclude_turns_of_one_instance(advisory) -> None:
    """Uncontended locks share one connection, where PostgreSQL would let a second holder in."""
    waited = await overlapping([advisory()], 15, rounds=6)
    assert len(waited) == 6 and waited.count(False) == 1


async def test_advisory_lock_is_released_when_the_holder_is_cancelled(advisory) -> None:
    a, b = advisory(), advisory()
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


async def test_advisory_locks_hold_more_conversations_than_the_server_has_connections(
    advisory, postgres_url: str
) -> None:
    limit = await max_connections(postgres_url)
    locks = advisory()
    held = 0
    all_held, release = asyncio.Event(), asyncio.Event()

    async def turn(conversation: int) -> bool:
        nonlocal held
        async with locks.hold(conversation) as waited:
            held += 1
            if held == limit + 20:
                all_held.set()
            await release.wait()
            return waited

    turns = [asyncio.create_task(turn(1000 + n)) for n in range(limit + 20)]
    await asyncio.wait_for(all_held.wait(), 30)
    assert await lock_connections(postgres_url) == 1, "every uncontended lock on one connection"
    assert await advisory_locks_held(postgres_url) == limit + 20
    release.set()
    assert await asyncio.gather(*turns) == [False] * (limit + 20)
    assert await lock_connections(postgres_url) == 0


async def test_contended_advisory_waits_use_a_bounded_number_of_connections(
    advisory, postgres_url: str
) -> None:
    """Another worker holds 6 conversations; ours waits for all 6 on at most 2 connections."""
    other, ours = advisory(), advisory(wait_connections=2)
    release = asyncio.Event()
    entered = [asyncio.Event() for _ in range(6)]

    async def hold_elsewhere(n: int) -> None:
        async with other.hold(2000 + n):
            entered[n].set()
            await release.wait()

    holders = [asyncio.create_task(hold_elsewhere(n)) for n in range(6)]
    await asyncio.gather(*(event.wait() for event in entered))
    waiters = [asyncio.create_task(_enter(ours, 2000 + n)) for n in range(6)]
    # other's one holder connection + ours waiting on two connections (however slow the
    # connects are), and never more while all six wait
    seen = [await lock_connections(postgres_url)]
    for _ in range(100):
        if seen[-1] >= 3:
            break
        await asyncio.sleep(0.05)
        seen.append(await lock_connections(postgres_url))
    await asyncio.sleep(0.2)
    seen.append(await lock_connections(postgres_url))
    assert seen[-1] == 3 and max(seen) == 3, seen
    assert not any(waiter.done() for waiter in waiters)
    release.set()
    await asyncio.gather(*holders)
    await asyncio.wait_for(asyncio.gather(*waiters), 10)
    assert await lock_connections(postgres_url) == 0


async def test_more_concurrent_turns_than_the_database_has_connections(
    postgres_url: str, tmp_path
) -> None:
    """PostgreSQL without Redis: each turn holds its conversation lock for the whole answer, and
    more turns than ``max_connections`` at once still all complete (none fails to connect)."""
    from emulators.moonshot import MoonshotEmulator

    turns = await max_connections(postgres_url) + 10
    models = tmp_path / "models.toml"
    models.write_text('[models."kimi-k2"]\nrpm = 100000\ntpm = 100000000\nconcurrency = 100000\n')
    async with MoonshotEmulator(api_key=EMULATOR_KEY, enforce_limits=False) as moonshot:
        settings = make_settings(moonshot.base_url, postgres_url, kimi_models_file=str(models))
        services = await start_services(settings)
        try:
            streaming = 0
            all_streaming = asyncio.Event()

            class GatedSink(CollectingSink):
                """Keeps its turn (and its lock) open until every turn is streaming."""

                started = False

                async def append(self, delta: str) -> None:
                    nonlocal streaming
                    if not self.started:
                        self.started = True
                        streaming += 1
                        if streaming == turns:
                            all_streaming.set()
                        await all_streaming.wait()
                    await super().append(delta)

            async def turn(n: int) -> tuple[str, str]:
                key = ConversationKey(platform="cli", chat=f"crowd-{n}")
                sink = GatedSink()
                outcome = await services.assistant.handle(
                    Incoming(key, Author(id=f"u{n}", name="U"), f"question {n}"), sink
                )
                return outcome.status, sink.final or ""

            results = await asyncio.wait_for(asyncio.gather(*(turn(n) for n in range(turns))), 120)
        finally:
            await services.close()
    assert all_streaming.is_set(), "all turns held their locks at the same time"
    assert [status for status, _ in results] == ["complete"] * turns
    assert all(f"question {n}" in text for n, (_, text) in enumerate(results))


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


async def test_advisory_locks_survive_losing_their_holder_connection(
    advisory, postgres_url: str, caplog
) -> None:
    """The server drops the connection holding a worker's locks (restart, failover): the turn
    in progress ends normally, the loss is logged, and the next lock reconnects."""
    locks = advisory()
    admin = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        async with locks.hold(3001) as waited:
            assert waited is False
            pid = locks._holder.get_server_pid()
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            await asyncio.sleep(0.1)
        assert await lock_connections(postgres_url) == 0, "the server released it with the session"
        async with locks.hold(3002) as waited:
            assert waited is False
            assert await lock_connections(postgres_url) == 1
        # Killed while idle, used at once (before the client noticed): one fresh try.
        pid = locks._holder.get_server_pid()
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        async with locks.hold(3003) as waited:
            assert waited is False
            assert locks._holder.get_server_pid() != pid
        assert "reconnecting the lock holder" in caplog.text or "was lost" in caplog.text
    finally:
        await admin.close()
