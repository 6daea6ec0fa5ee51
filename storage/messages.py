"""Messages of a conversation: stored first, finished later, read newest-first by keyset pages."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.models import Message, utcnow
from storage.records import StoredMessage

IN_PROGRESS = "in_progress"
COMPLETE = "complete"
INCOMPLETE = "incomplete"
FAILED = "failed"

_COLUMNS = (
    Message.id,
    Message.role,
    Message.content,
    Message.token_estimate,
    Message.status,
    Message.author_id,
    Message.author_name,
    Message.created_at,
    Message.reply_to_id,
)


class MessageRepository:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def add(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        token_estimate: int = 0,
        status: str = COMPLETE,
        author_id: str | None = None,
        author_name: str | None = None,
        model: str | None = None,
        platform_message_id: str | None = None,
        reply_to_id: int | None = None,
    ) -> int:
        row = Message(
            conversation_id=conversation_id,
            role=role,
            content=content,
            token_estimate=token_estimate,
            status=status,
            author_id=author_id,
            author_name=author_name,
            model=model,
            platform_message_id=platform_message_id,
            reply_to_id=reply_to_id,
        )
        async with self._sessions() as session, session.begin():
            session.add(row)
        return row.id

    async def finish(
        self,
        message_id: int,
        *,
        content: str,
        status: str,
        token_estimate: int,
        error: str | None = None,
    ) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(
                    content=content,
                    status=status,
                    token_estimate=token_estimate,
                    error=error,
                    updated_at=utcnow(),
                )
            )

    async def page(
        self, conversation_id: int, *, before_id: int | None = None, limit: int = 32
    ) -> list[StoredMessage]:
        """Up to ``limit`` messages older than ``before_id``, newest first (one index range scan)."""
        query = select(*_COLUMNS).where(Message.conversation_id == conversation_id)
        if before_id is not None:
            query = query.where(Message.id < before_id)
        query = query.order_by(Message.id.desc()).limit(limit)
        async with self._sessions() as session:
            rows = await session.execute(query)
            return [StoredMessage(*row) for row in rows]

    async def get(self, message_id: int) -> StoredMessage | None:
        async with self._sessions() as session:
            row = (await session.execute(select(*_COLUMNS).where(Message.id == message_id))).first()
            return StoredMessage(*row) if row else None

    async def count(self, conversation_id: int) -> int:
        async with self._sessions() as session:
            return int(
                await session.scalar(
                    select(func.count(Message.id)).where(Message.conversation_id == conversation_id)
                )
                or 0
            )
