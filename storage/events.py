"""Exactly-once claims on platform events, shared by every worker through the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.models import ProcessedEvent


class EventRepository:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def claim(self, source: str, event_id: str) -> bool:
        """True the first time an event is seen, False for every redelivery."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(ProcessedEvent(source=source, event_id=event_id))
        except IntegrityError:
            return False
        return True

    async def prune(self, older_than: datetime) -> int:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(ProcessedEvent).where(ProcessedEvent.created_at < older_than)
            )
            return int(result.rowcount or 0)
