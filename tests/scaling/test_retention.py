"""Retention: the tables that would grow forever stay flat, and nothing still in use goes.

On SQLite and PostgreSQL alike (the ``db`` fixture), plus the Redis lease that lets one worker
of several do each period's work.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update

from core.documents.extractor import Extraction
from core.documents.library import DocumentLibrary
from core.retention import Pruned, Retention, RetentionPolicy
from core.types import Attachment, Author
from storage import Database
from storage.models import Document, DocumentSection, ProcessedEvent, Worker

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
WEEK = RetentionPolicy()  # events 7 days, documents 30 days, stopped workers 1 day


def retention(db: Database, at: datetime = NOW, **kwargs: object) -> Retention:
    return Retention(db, WEEK, every=3600, clock=lambda: at, **kwargs)  # type: ignore[arg-type]


async def count(db: Database, column: object) -> int:
    async with db.engine.connect() as connection:
        return int((await connection.execute(select(func.count(column)))).scalar() or 0)


async def claims_made(db: Database, at: datetime, n: int, prefix: str) -> None:
    """``n`` claims as if taken at ``at`` (the same rows ``events.claim`` writes)."""
    rows = [{"source": "telegram", "event_id": f"{prefix}-{i}", "created_at": at} for i in range(n)]
    async with db.engine.begin() as connection:
        await connection.execute(insert(ProcessedEvent), rows)


async def test_event_claims_stay_flat_as_days_go_by(db: Database) -> None:
    per_day = 300
    sizes = []
    for day in range(14):
        today = NOW + timedelta(days=day)
        await claims_made(db, today, per_day, prefix=f"day{day}")
        await retention(db, at=today + timedelta(hours=1)).run_once()
        sizes.append(await count(db, ProcessedEvent.event_id))
    assert sizes[:7] == [per_day * (d + 1) for d in range(7)], "a week is kept whole"
    assert set(sizes[7:]) == {per_day * 7}, f"then the table stops growing: {sizes}"


async def test_a_large_backlog_goes_in_batches_and_a_recent_claim_still_dedupes(
    db: Database,
) -> None:
    now = datetime.now(UTC)  # a real claim is stamped with the real time
    await claims_made(db, now - timedelta(days=30), 2500, prefix="old")
    assert await db.events.claim("telegram", "fresh")  # claimed now: inside the window
    pruned = await retention(db, at=now, batch=1000).run_once()
    assert pruned == Pruned(events=2500)
    assert await count(db, ProcessedEvent.event_id) == 1
    assert not await db.events.claim("telegram", "fresh"), "a redelivery is still refused"
    assert await db.events.claim("telegram", "old-7"), "a forgotten claim can be taken again"


async def test_a_second_run_finds_nothing_left(db: Database) -> None:
    await claims_made(db, NOW - timedelta(days=8), 50, prefix="old")
    first, second = await asyncio.gather(retention(db).run_once(), retention(db).run_once())
    assert first is not None and second is not None
    assert first.events + second.events == 50, "overlapping runs delete each row once"
    assert await retention(db).run_once() == Pruned()


async def test_crashed_workers_rows_go_living_ones_stay(db: Database) -> None:
    await db.workers.heartbeat("alive", "host", 1)
    await db.workers.heartbeat("crashed", "host", 2)
    async with db.engine.begin() as connection:
        await connection.execute(
            update(Worker)
            .where(Worker.id == "crashed")
            .values(heartbeat_at=datetime.now(UTC) - timedelta(days=2))
        )
    pruned = await retention(db, at=datetime.now(UTC)).run_once()
    assert pruned is not None and pruned.workers == 1
    async with db.engine.connect() as connection:
        assert list((await connection.execute(select(Worker.id))).scalars()) == ["alive"]


class CountingExtractor:
    """Stands in for Moonshot's files API: every call is one extraction."""

    def __init__(self) -> None:
        self.calls = 0

    async def extract(self, name: str, data: bytes, mime_type: str) -> Extraction:
        self.calls += 1
        return Extraction(content=data.decode(), file_type="text/plain", token_count=None)


def text_file(name: str, text: str) -> Attachment:
    data = text.encode()

    async def fetch() -> bytes:
        return data

    return Attachment(name=name, mime_type="text/plain", size=len(data), fetch=fetch)


async def backdate_documents(db: Database, days: int) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(
            update(Document).values(created_at=datetime.now(UTC) - timedelta(days=days))
        )


async def test_only_documents_no_library_uses_go(db: Database) -> None:
    library = DocumentLibrary(db, CountingExtractor())  # type: ignore[arg-type]
    alice = Author("test:alice", "Alice")
    kept = await db.conversations.get_or_create(conversation_key("kept"), is_group=False)
    gone = await db.conversations.get_or_create(conversation_key("gone"), is_group=False)
    await library.ingest(kept.id, text_file("kept.txt", "zebra crossing notes"), alice)
    await library.ingest(gone.id, text_file("gone.txt", "walrus habitat notes"), alice)
    await library.forget(gone.id, None)  # nobody uses gone.txt any more
    await backdate_documents(db, 31)
    await library.ingest(gone.id, text_file("new.txt", "fresh unused notes"), alice)
    await library.forget(gone.id, None)  # unused, but younger than DOCUMENT_RETENTION_DAYS

    pruned = await retention(db, at=datetime.now(UTC)).run_once()
    assert pruned is not None and pruned.documents == 1
    async with db.engine.connect() as connection:
        names = set((await connection.execute(select(Document.file_name))).scalars())
    assert names == {"kept.txt", "new.txt"}
    assert await count(db, DocumentSection.id) == 2, "the sections went with their document"
    hits = await db.documents.search(kept.id, ["zebra"])
    assert [h.document_name for h in hits] == ["kept.txt"], "search still finds what is kept"


async def test_a_document_pruned_while_being_added_is_extracted_again(db: Database) -> None:
    extractor = CountingExtractor()
    library = DocumentLibrary(db, extractor)  # type: ignore[arg-type]
    alice = Author("test:alice", "Alice")
    first = await db.conversations.get_or_create(conversation_key("first"), is_group=False)
    second = await db.conversations.get_or_create(conversation_key("second"), is_group=False)
    await library.ingest(first.id, text_file("notes.txt", "shared notes"), alice)
    await library.forget(first.id, None)
    await backdate_documents(db, 31)

    find_by_hash = db.documents.find_by_hash

    async def found_then_pruned(sha256: str):  # type: ignore[no-untyped-def]
        found = await find_by_hash(sha256)
        await retention(db, at=datetime.now(UTC)).run_once()  # another worker, right now
        return found

    db.documents.find_by_hash = found_then_pruned  # type: ignore[method-assign]
    ingested = await library.ingest(second.id, text_file("notes.txt", "shared notes"), alice)
    assert ingested.number == 1 and ingested.newly_added
    assert extractor.calls == 2, "the vanished extraction was made again"
    assert [item.name for item in await library.listing(second.id)] == ["notes.txt"]


async def test_with_redis_one_worker_trims_per_period(db: Database, redis_url: str) -> None:
    from core.service import connect_redis

    redis = connect_redis(redis_url)
    try:
        await claims_made(db, NOW - timedelta(days=8), 10, prefix="old")
        a = retention(db, redis=redis, owner="worker-a")
        b = retention(db, redis=redis, owner="worker-b")
        assert await a.run_once() == Pruned(events=10)
        assert await b.run_once() is None, "worker-a has this period"
        assert str(await redis.get("kimi:retention")).startswith("worker-a/")
    finally:
        await redis.aclose()


async def test_the_job_runs_in_the_background_until_stopped(db: Database) -> None:
    await claims_made(db, NOW - timedelta(days=8), 10, prefix="old")
    job = Retention(db, WEEK, every=0.2, clock=lambda: NOW)
    await job.start()
    try:
        for _ in range(100):
            if await count(db, ProcessedEvent.event_id) == 0:
                break
            await asyncio.sleep(0.05)
        assert await count(db, ProcessedEvent.event_id) == 0
    finally:
        await job.stop()
    off = Retention(db, WEEK, every=0)
    await off.start()  # RETENTION_EVERY=0: nothing runs
    await off.stop()


def conversation_key(chat: str):  # type: ignore[no-untyped-def]
    from storage import ConversationKey

    return ConversationKey(platform="test", workspace="", chat=chat, thread="")
