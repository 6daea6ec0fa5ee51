"""Messages of a conversation: stored first, finished later, read newest-first by keyset pages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.vocabulary import COMPLETE, FAILED, IN_PROGRESS, INCOMPLETE  # noqa: F401 (re-exported)
from storage.conversations import participant_step
from storage.database import WriteGate
from storage.models import Message, UsageRecord, utcnow
from storage.records import StoredMessage, UsageEntry
from storage.usage import usage_columns
from storage.write_steps import Step

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

# The hot path's statements, built once with bound parameters: building a statement per call
# (``.values(...)``, ``.where(...)``) was about a millisecond of CPU each, on every turn.
_INSERT = insert(Message).returning(Message.id)
_INSERT_USAGE = insert(UsageRecord)
_FINISH = update(Message).where(Message.id == bindparam("answer_id"))
_CHECKPOINT = _FINISH.where(Message.status == IN_PROGRESS)
_PAGE = (
    select(*_COLUMNS)
    .where(
        Message.conversation_id == bindparam("conversation_id"),
        Message.id > bindparam("after_id"),
    )
    .order_by(Message.id.desc())
    .limit(bindparam("limit"))
)
_PAGE_BEFORE = _PAGE.where(Message.id < bindparam("before_id"))


class MessageRepository:
    """Hot-path statements use Core on a connection: the ORM session costs ~1 ms more each."""

    def __init__(self, engine: AsyncEngine, writes: WriteGate) -> None:
        self._engine = engine
        self._writes = writes

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
        participant: bool = False,
        worker_id: str | None = None,
    ) -> int:
        """Insert a message; with ``participant`` also record its author, in the same transaction."""
        now = utcnow()
        values = {
            "conversation_id": conversation_id,
            "role": role,
            "content": content,
            "token_estimate": token_estimate,
            "status": status,
            "author_id": author_id,
            "author_name": author_name,
            "model": model,
            "platform_message_id": platform_message_id,
            "reply_to_id": reply_to_id,
            "worker_id": worker_id,
            "created_at": now,
            "updated_at": now,
        }

        steps = [Step(_INSERT, (values,), returns_ids=True)]
        if participant and author_id:
            dialect = self._engine.dialect.name
            steps.append(participant_step(dialect, conversation_id, author_id, author_name or ""))
        (message_id,) = await self._writes.write(*steps)
        return message_id

    async def add_many(self, conversation_id: int, rows: list[tuple[str, str, int]]) -> None:
        """Bulk import of (role, content, token_estimate) rows, e.g. history from elsewhere."""
        if not rows:
            return
        now = utcnow()
        values = [
            {
                "conversation_id": conversation_id,
                "role": role,
                "content": content,
                "token_estimate": tokens,
                "status": COMPLETE,
                "created_at": now,
                "updated_at": now,
            }
            for role, content, tokens in rows
        ]

        async def write(connection: AsyncConnection) -> None:
            await connection.execute(insert(Message), values)

        await self._writes.run(write)

    async def finish(
        self,
        message_id: int,
        *,
        content: str,
        status: str,
        token_estimate: int,
        error: str | None = None,
        usage: Sequence[UsageEntry] = (),
        reasoning: str | None = None,
    ) -> None:
        """Close an answer; its usage rows (one per model call) go in the same transaction."""
        closing = {
            "answer_id": message_id,
            "content": content,
            "status": status,
            "token_estimate": token_estimate,
            "error": error,
            "reasoning": reasoning or None,
            "updated_at": utcnow(),
        }

        steps = [Step(_FINISH, (closing,))]
        if usage:
            steps.insert(0, Step(_INSERT_USAGE, [usage_columns(entry) for entry in usage]))
        await self._writes.write(*steps)

    async def fail(self, message_id: int, *, error: str) -> None:
        """Set a user message aside without an answer (over budget, unreadable attachments,
        too long for the window): kept in the history, left out of later contexts."""
        statement = (
            update(Message)
            .where(Message.id == message_id)
            .values(status=FAILED, error=error, updated_at=utcnow())
        )
        await self._writes.execute(statement)

    async def replace_text(self, message_id: int, content: str, token_estimate: int) -> None:
        """A user message's words, once known: a voice message's transcript replaces the
        placeholder it was stored with."""
        statement = (
            update(Message)
            .where(Message.id == message_id)
            .values(content=content, token_estimate=token_estimate, updated_at=utcnow())
        )
        await self._writes.execute(statement)

    async def checkpoint(self, message_id: int, content: str, token_estimate: int) -> None:
        """Save a streaming answer's text so far; a no-op once the answer was closed (so a late
        checkpoint can never overwrite the final text)."""
        row = {
            "answer_id": message_id,
            "content": content,
            "token_estimate": token_estimate,
            "updated_at": utcnow(),
        }
        await self._writes.write(Step(_CHECKPOINT, (row,)))

    async def page(
        self,
        conversation_id: int,
        *,
        before_id: int | None = None,
        limit: int = 32,
        after_id: int = 0,
    ) -> list[StoredMessage]:
        """Up to ``limit`` messages older than ``before_id`` and newer than ``after_id``, newest
        first (one index range scan)."""
        values = {"conversation_id": conversation_id, "limit": limit, "after_id": after_id}
        query = _PAGE
        if before_id is not None:
            query, values["before_id"] = _PAGE_BEFORE, before_id
        async with self._engine.connect() as connection:
            rows = await connection.execute(query, values)
            return [StoredMessage(*row) for row in rows]

    async def get(self, message_id: int) -> StoredMessage | None:
        async with self._engine.connect() as connection:
            query = select(*_COLUMNS).where(Message.id == message_id)
            row = (await connection.execute(query)).first()
            return StoredMessage(*row) if row else None

    async def stored_platform_ids(self, conversation_id: int, ids: Sequence[str]) -> set[str]:
        """Which of these platform message ids the conversation already holds."""
        if not ids:
            return set()
        query = select(Message.platform_message_id).where(
            Message.conversation_id == conversation_id,
            Message.platform_message_id.in_(list(ids)),
        )
        async with self._engine.connect() as connection:
            return {str(row[0]) for row in await connection.execute(query)}

    async def answered(self, conversation_id: int, platform_message_id: str) -> bool:
        """Whether a user message with this platform id got an answer (edits of answered
        messages may be answered again; edits of chatter never are)."""
        asked = select(Message.id).where(
            Message.conversation_id == conversation_id,
            Message.role == "user",
            Message.platform_message_id == platform_message_id,
        )
        query = (
            select(Message.id)
            .where(
                Message.conversation_id == conversation_id,
                Message.role == "assistant",
                Message.reply_to_id.in_(asked),
            )
            .limit(1)
        )
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).first() is not None
