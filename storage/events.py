"""Exactly-once claims on platform events, shared by every worker through the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker

from storage.database import WriteGate
from storage.models import ProcessedEvent


class EventRepository:
    def __init__(self, sessions: async_sessionmaker, writes: WriteGate) -> None:
        self._sessions = sessions
        self._writes = writes

    async def claim(self, source: str, event_id: str) -> bool:
        """True the first time an event is seen, False for every redelivery (one write per
        platform update: it queues with the messages' writes)."""
        statement = insert(ProcessedEvent).values(source=source, event_id=event_id)
        try:
            await self._writes.execute(statement)
        except IntegrityError:
            return False
        return True

    async def count(self) -> int:
        """How many claims are kept (read-only; for soaks and operators watching the table)."""
        query = select(func.count()).select_from(ProcessedEvent)
        async with self._sessions() as session:
            return int((await session.execute(query)).scalar_one())

    async def prune(self, older_than: datetime, *, limit: int = 5000) -> int:
        """Forget up to ``limit`` claims made before ``older_than``; returns how many went.

        One short transaction per call, so a large backlog never holds SQLite's write lock
        for long. Rows another worker is deleting right now are skipped (PostgreSQL's
        ``SKIP LOCKED``; SQLite has one writer anyway), so concurrent runs neither wait nor
        deadlock, and a repeated run finds nothing left to do.
        """
        key = tuple_(ProcessedEvent.source, ProcessedEvent.event_id)
        doomed = (
            select(ProcessedEvent.source, ProcessedEvent.event_id)
            .where(ProcessedEvent.created_at < older_than)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = delete(ProcessedEvent).where(key.in_(doomed))

        async def write(connection: AsyncConnection) -> int:
            return int((await connection.execute(statement)).rowcount or 0)

        return await self._writes.run(write)
