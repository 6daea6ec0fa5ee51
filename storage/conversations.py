"""Conversations and their participants."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.models import (
    Conversation,
    ConversationImage,
    ConversationSummary,
    LibraryEntry,
    Participant,
    utcnow,
)
from storage.records import ConversationContents, ConversationKey, ConversationRecord
from storage.write_gate import WriteGate
from storage.write_steps import Step

# Read with every conversation (correlated subqueries on indexed columns; built once).
_CONTENTS = (
    exists().where(LibraryEntry.conversation_id == Conversation.id).label("has_documents"),
    exists().where(ConversationImage.conversation_id == Conversation.id).label("has_images"),
    select(ConversationSummary.id)
    .where(ConversationSummary.conversation_id == Conversation.id)
    .order_by(ConversationSummary.through_id.desc())
    .limit(1)
    .scalar_subquery()
    .label("summary_id"),
)
_WITH_CONTENTS = (*Conversation.__table__.columns, *_CONTENTS)
# Every turn starts here: built once, with the key as bound parameters.
_ACTIVE = (
    select(*_WITH_CONTENTS)
    .where(
        Conversation.platform == bindparam("platform"),
        Conversation.workspace == bindparam("workspace"),
        Conversation.chat == bindparam("chat"),
        Conversation.thread == bindparam("thread"),
    )
    .order_by(Conversation.generation.desc())
    .limit(1)
)


def _record(row: Any, *, new: bool = False) -> ConversationRecord:
    """From an ORM object or a Core row: both expose the columns as attributes. A row read
    with :data:`_WITH_CONTENTS` carries what the conversation holds; a ``new`` one holds
    nothing yet."""
    key = ConversationKey(
        platform=row.platform, workspace=row.workspace, chat=row.chat, thread=row.thread
    )
    contents = None
    if new:
        contents = ConversationContents(documents=False, images=False, summary_id=None)
    elif hasattr(row, "has_documents"):
        contents = ConversationContents(
            documents=bool(row.has_documents),
            images=bool(row.has_images),
            summary_id=row.summary_id,
        )
    return ConversationRecord(
        id=row.id,
        key=key,
        generation=row.generation,
        is_group=row.is_group,
        model=row.model,
        system_prompt=row.system_prompt,
        options=dict(row.options or {}),
        contents=contents,
    )


def participant_step(dialect: str, conversation_id: int, user_id: str, display_name: str) -> Step:
    """Record a speaker (one INSERT .. ON CONFLICT DO UPDATE on SQLite and PostgreSQL alike):
    first and last seen, and the newest non-empty display name."""
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    statement = insert(Participant).values(
        conversation_id=conversation_id,
        user_id=user_id,
        display_name=display_name,
        first_seen=now,
        last_seen=now,
    )
    updates: dict[str, Any] = {"last_seen": now}
    if display_name:
        updates["display_name"] = display_name
    upsert = statement.on_conflict_do_update(
        index_elements=["conversation_id", "user_id"], set_=updates
    )
    return Step(upsert, ({},))


class ConversationRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = WriteGate.of(engine)

    async def active(self, key: ConversationKey) -> ConversationRecord | None:
        """The newest generation for this key, or None if the chat never spoke."""
        values = {
            "platform": key.platform,
            "workspace": key.workspace,
            "chat": key.chat,
            "thread": key.thread,
        }
        async with self._engine.connect() as connection:
            row = (await connection.execute(_ACTIVE, values)).first()
        return _record(row) if row else None

    async def get_or_create(self, key: ConversationKey, *, is_group: bool) -> ConversationRecord:
        existing = await self.active(key)
        if existing is not None:
            return existing
        return await self._insert(key, generation=0, is_group=is_group)

    async def reset(self, key: ConversationKey, *, is_group: bool) -> ConversationRecord:
        """Start a new generation; the old conversation stays stored. Keeps model and prompt."""
        current = await self.active(key)
        if current is None:
            return await self._insert(key, generation=0, is_group=is_group)
        return await self._insert(
            key,
            generation=current.generation + 1,
            is_group=is_group,
            model=current.model,
            system_prompt=current.system_prompt,
            options=current.options,
        )

    async def _insert(
        self,
        key: ConversationKey,
        *,
        generation: int,
        is_group: bool,
        model: str | None = None,
        system_prompt: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> ConversationRecord:
        values = {
            "platform": key.platform,
            "workspace": key.workspace,
            "chat": key.chat,
            "thread": key.thread,
            "generation": generation,
            "is_group": is_group,
            "model": model,
            "system_prompt": system_prompt,
            "options": dict(options or {}),
        }
        statement = insert(Conversation).values(values).returning(*Conversation.__table__.columns)

        async def write(connection: AsyncConnection) -> Any:
            return (await connection.execute(statement)).one()

        try:
            row = await self._writes.run(write)
        except IntegrityError:
            # Another worker created this generation first: use theirs.
            existing = await self.active(key)
            if existing is None:
                raise
            return existing
        return _record(row, new=True)

    async def get(self, conversation_id: int) -> ConversationRecord | None:
        query = select(*_WITH_CONTENTS).where(Conversation.id == conversation_id)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return _record(row) if row else None

    async def advance_fence(self, conversation_id: int, fence: int) -> bool:
        """Record that the turn holding fencing token ``fence`` starts now; False when a turn
        with a newer token already started (the caller's lock lapsed and was taken over)."""
        statement = (
            update(Conversation)
            .where(
                Conversation.id == conversation_id,
                (Conversation.turn_fence.is_(None)) | (Conversation.turn_fence < fence),
            )
            .values(turn_fence=fence)
            .returning(Conversation.id)
        )

        async def write(connection: AsyncConnection) -> bool:
            return (await connection.execute(statement)).first() is not None

        return await self._writes.run(write)

    async def fence(self, conversation_id: int) -> int:
        """The newest fencing token seen for this conversation (0 if none)."""
        query = select(Conversation.turn_fence).where(Conversation.id == conversation_id)
        async with self._engine.connect() as connection:
            return int((await connection.execute(query)).scalar() or 0)

    async def update_settings(self, conversation_id: int, **values: Any) -> None:
        """Set ``model``, ``system_prompt`` (None clears) or ``options``."""
        allowed = {"model", "system_prompt", "options"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown conversation settings: {sorted(unknown)}")
        await self._writes.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(**values, updated_at=utcnow())
        )
