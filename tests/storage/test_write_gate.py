"""The hot path's writes (storage.database.WriteGate): on SQLite one writer at a time, and the
writes that queued meanwhile share one commit; on PostgreSQL each its own transaction."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.types import ConversationKey
from storage import Database
from storage.database import WriteGate
from tests.support.ledger import ledger_row

WRITERS = 200


async def a_conversation(db: Database, chat: str = "gate") -> int:
    record = await db.conversations.get_or_create(
        ConversationKey(platform="test", chat=chat), is_group=False
    )
    return record.id


def count_commits(db: Database) -> list[int]:
    commits = [0]

    def counted(_connection: Any) -> None:
        commits[0] += 1

    event.listen(db.engine.sync_engine, "commit", counted)
    return commits


async def test_many_concurrent_writers_all_land_with_distinct_ids(db: Database) -> None:
    conversation = await a_conversation(db)
    commits = count_commits(db)
    ids = await asyncio.gather(
        *(db.messages.add(conversation, "user", f"message {i}") for i in range(WRITERS))
    )
    assert len(set(ids)) == WRITERS
    stored = await db.messages.page(conversation, limit=WRITERS + 10)
    assert sorted(m.content for m in stored) == sorted(f"message {i}" for i in range(WRITERS))
    if db.engine.dialect.name == "sqlite":
        assert commits[0] < WRITERS / 4, "queued writes share commits"
    else:
        assert commits[0] >= WRITERS, "PostgreSQL: each write its own transaction"


async def test_a_failing_write_fails_alone_and_the_others_of_its_commit_land(
    db: Database,
) -> None:
    conversation = await a_conversation(db)
    missing = conversation + 10_000  # no such conversation: the foreign key refuses it
    writes = [db.messages.add(conversation, "user", f"fine {i}") for i in range(5)]
    writes.insert(2, db.messages.add(missing, "user", "refused"))
    results = await asyncio.gather(*writes, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], IntegrityError)
    assert isinstance(results[2], IntegrityError)
    stored = await db.messages.page(conversation)
    assert sorted(m.content for m in stored) == [f"fine {i}" for i in range(5)]


async def test_a_write_returns_only_once_committed(db: Database) -> None:
    """What a writer was told is stored is visible to a fresh connection right away."""
    conversation = await a_conversation(db)
    message_id = await db.messages.add(conversation, "user", "hello")
    async with db.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT content FROM messages WHERE id = :id"), {"id": message_id}
        )
        assert found.scalar_one() == "hello"


async def test_a_caller_cancelled_before_its_turn_is_skipped(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    await database.migrate()
    try:
        gate = WriteGate(database.engine)
        holding = asyncio.Event()
        release = asyncio.Event()
        ran: list[str] = []

        async def slow(connection: AsyncConnection) -> str:
            holding.set()
            await release.wait()
            ran.append("slow")
            return "slow"

        async def later(connection: AsyncConnection) -> str:
            ran.append("later")
            return "later"

        first = asyncio.create_task(gate.run(slow))
        await holding.wait()  # the first commit is under way; the next write queues
        second = asyncio.create_task(gate.run(later))
        await asyncio.sleep(0)
        second.cancel()
        release.set()
        assert await first == "slow"
        with pytest.raises(asyncio.CancelledError):
            await second
        assert ran == ["slow"]
        assert await gate.run(later) == "later", "the gate still takes writes"
    finally:
        await database.close()


async def test_every_hot_repository_queues_in_the_same_line(db: Database) -> None:
    """Messages, event claims, ledger rows and summaries: one queue, so on SQLite they share
    commits instead of meeting in SQLite's busy handler."""
    conversation = await a_conversation(db)
    commits = count_commits(db)
    writes: list[Any] = []
    for i in range(WRITERS // 4):
        writes.append(db.messages.add(conversation, "user", f"message {i}"))
        writes.append(db.events.claim("test", f"event {i}"))
        writes.append(db.usage.record(ledger_row(user_id="u", conversation_id=conversation)))
        writes.append(
            db.summaries.add(
                conversation,
                through_id=i + 1,
                covered_messages=i,
                content=f"summary {i}",
                token_estimate=2,
                model="kimi-k2",
            )
        )
    results = await asyncio.gather(*writes)
    assert all(r is not False for r in results)
    assert (await db.usage.totals(user_id="u")).calls == WRITERS // 4
    assert await db.events.claim("test", "event 0") is False, "a redelivery is still refused"
    if db.engine.dialect.name == "sqlite":
        assert commits[0] < WRITERS / 4
    else:
        assert commits[0] >= WRITERS
