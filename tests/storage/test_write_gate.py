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
from storage.admin import AdminRepository
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


async def test_an_own_transaction_commits_its_statements_together_or_not_at_all(
    db: Database,
) -> None:
    conversation = await a_conversation(db)
    gate = WriteGate.of(db.engine)
    insert_message = text(
        "INSERT INTO messages (conversation_id, role, content, token_estimate, status,"
        " created_at, updated_at) VALUES (:c, 'user', :content, 1, 'complete',"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    async with gate.transaction() as connection:
        await connection.execute(insert_message, {"c": conversation, "content": "kept 1"})
        await connection.execute(insert_message, {"c": conversation, "content": "kept 2"})
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with gate.transaction() as connection:
            await connection.execute(insert_message, {"c": conversation, "content": "undone"})
            raise RuntimeError("changed my mind")
    stored = await db.messages.page(conversation)
    assert sorted(m.content for m in stored) == ["kept 1", "kept 2"]
    assert await db.messages.add(conversation, "user", "after") > 0, "the line still moves"


async def test_an_own_transaction_takes_its_turn_in_the_line(sqlite_url: str) -> None:
    """It waits for the write ahead of it to commit, and the writes behind it wait for it."""
    database = Database(sqlite_url)
    await database.migrate()
    try:
        gate = WriteGate.of(database.engine)
        assert gate is WriteGate.of(database.engine), "one line per database"
        holding, release = asyncio.Event(), asyncio.Event()
        order: list[str] = []

        async def ahead(connection: AsyncConnection) -> None:
            holding.set()
            await release.wait()
            order.append("ahead committed")

        async def own() -> None:
            async with gate.transaction():
                order.append("own began")
                await asyncio.sleep(0.05)
                order.append("own ends")

        async def behind(connection: AsyncConnection) -> None:
            order.append("behind ran")

        first = asyncio.create_task(gate.run(ahead))
        await holding.wait()
        second = asyncio.create_task(own())
        await asyncio.sleep(0.05)
        third = asyncio.create_task(gate.run(behind))
        await asyncio.sleep(0.05)
        assert order == [], "nothing else writes while the first write holds the line"
        release.set()
        await asyncio.gather(first, second, third)
        assert order == ["ahead committed", "own began", "own ends", "behind ran"]
    finally:
        await database.close()


async def test_an_own_transaction_cancelled_before_its_turn_is_skipped(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    await database.migrate()
    try:
        gate = WriteGate.of(database.engine)
        holding, release = asyncio.Event(), asyncio.Event()
        entered: list[str] = []

        async def ahead(connection: AsyncConnection) -> None:
            holding.set()
            await release.wait()

        async def own() -> None:
            async with gate.transaction():
                entered.append("own")

        first = asyncio.create_task(gate.run(ahead))
        await holding.wait()
        waiting = asyncio.create_task(own())
        await asyncio.sleep(0.02)
        waiting.cancel()
        release.set()
        await first
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert entered == []
        async with gate.transaction() as connection:  # the line still moves
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await database.close()


async def test_answer_posts_keep_the_first_answer_they_were_linked_to(db: Database) -> None:
    conversation = await a_conversation(db)
    first = await db.messages.add(conversation, "assistant", "first answer")
    second = await db.messages.add(conversation, "assistant", "second answer")
    await db.feedback.link("telegram", "42", ["1", "2", "2"], first)
    await db.feedback.link("telegram", "42", ["2", "3"], second)  # "2" redelivered: kept
    await db.feedback.link("telegram", "42", [], second)
    found = [await db.feedback.answer_of_post("telegram", "42", post) for post in "1234"]
    assert found == [first, first, second, None]


async def test_every_repository_writes_in_the_line(sqlite_url: str) -> None:
    """On SQLite no write transaction of the service's repositories runs outside the line: a
    writer outside it meets the line's back-to-back commits in SQLite's busy handler, holding
    a pooled connection, and under load starved there for up to the 30-second busy timeout
    (a 1,000-conversation soak: Telegram's post links failed "database is locked" and every
    turn waited for a connection). Every commit must come from the line's task."""
    database = Database(sqlite_url)
    await database.migrate()
    committed_by: list[str] = []

    def note(_connection: Any) -> None:
        task = asyncio.current_task()
        committed_by.append(task.get_name() if task else "no task")

    event.listen(database.engine.sync_engine, "commit", note)
    try:
        key = ConversationKey(platform="telegram", chat="7")
        conversation = await database.conversations.get_or_create(key, is_group=False)
        await database.conversations.update_settings(conversation.id, model="kimi-k2")
        await database.conversations.advance_fence(conversation.id, 3)
        asked = await database.messages.add(
            conversation.id, "user", "hi", author_id="u1", author_name="Ann", participant=True
        )
        answer = await database.messages.add(conversation.id, "assistant", "", status="in_progress")
        await database.messages.checkpoint(answer, "hel", 1)
        await database.messages.finish(answer, content="hello", status="complete", token_estimate=1)
        await database.messages.fail(asked, error="test")
        await database.feedback.link("telegram", "7", ["11"], answer)
        rated = await database.feedback.answer(answer)
        assert rated is not None
        await database.feedback.rate(rated, "u1", 1)
        await database.events.claim("telegram", "update 1")
        await database.usage.record(ledger_row(user_id="u1", conversation_id=conversation.id))
        await database.summaries.add(
            conversation.id,
            through_id=answer,
            covered_messages=2,
            content="they greeted",
            token_estimate=3,
            model="kimi-k2",
        )
        await database.workers.heartbeat("w1", "host", 1)
        await database.workers.unregister("w1")
        await database.secrets.get_or_create("test-secret", lambda: "s3cret")
        await database.transcriptions.record(
            conversation_id=conversation.id,
            message_id=asked,
            user_id="u1",
            platform="telegram",
            chat_key="telegram:7",
            model="whisper",
            seconds=1.0,
            elapsed_ms=5,
        )
        await database.images.forget(conversation.id, None)
        await database.documents.forget(conversation.id, None)
        await database.conversations.reset(key, is_group=False)
        admin = AdminRepository(database.engine)
        await admin.audit("admin", "test", "every write in line")
        await admin.add_access("user", "u2", "admin")
        await admin.set_budget("u1", 1.0, None, "admin")
        assert len(committed_by) >= 20
        assert set(committed_by) == {"sqlite-writes"}, committed_by
    finally:
        await database.close()
