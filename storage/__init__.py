"""SQLAlchemy 2 async storage: the only package that speaks SQL."""

from __future__ import annotations

from sqlalchemy import text

from storage import migrate
from storage.conversations import ConversationRepository
from storage.database import WriteGate, create_engine, session_factory
from storage.documents import DocumentRepository
from storage.events import EventRepository
from storage.feedback import FeedbackRepository
from storage.images import ImageRepository
from storage.messages import COMPLETE, FAILED, IN_PROGRESS, INCOMPLETE, MessageRepository
from storage.records import (
    ConversationKey,
    ConversationRecord,
    StoredMessage,
    UsageEntry,
    UsageTotals,
)
from storage.secrets import SecretRepository
from storage.summaries import SummaryRepository
from storage.transcriptions import TranscriptionRepository
from storage.usage import UsageRepository
from storage.workers import WorkerRepository

__all__ = [
    "COMPLETE",
    "FAILED",
    "INCOMPLETE",
    "IN_PROGRESS",
    "ConversationKey",
    "ConversationRecord",
    "Database",
    "StoredMessage",
    "UsageEntry",
    "UsageTotals",
]


class Database:
    """One engine and the repositories built on it."""

    def __init__(self, url: str, *, pool_size: int = 5, max_overflow: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        sessions = session_factory(self.engine)
        # One queue for the hot path's writes of every repository: on SQLite they must take
        # turns with each other, not only within one repository.
        writes = WriteGate.of(self.engine)
        self.conversations = ConversationRepository(self.engine)
        self.messages = MessageRepository(self.engine, writes)
        self.usage = UsageRepository(sessions, writes)
        self.events = EventRepository(sessions, writes)
        self.documents = DocumentRepository(self.engine)
        self.images = ImageRepository(self.engine)
        self.workers = WorkerRepository(self.engine)
        self.secrets = SecretRepository(self.engine)
        self.transcriptions = TranscriptionRepository(self.engine)
        self.feedback = FeedbackRepository(self.engine)
        self.summaries = SummaryRepository(self.engine, writes)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    async def migrate(self) -> None:
        await migrate.upgrade(self.engine)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
