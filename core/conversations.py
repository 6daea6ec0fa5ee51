"""What an adapter may ask or tell the core besides "answer this message".

Adapters (``bots/``) never touch ``storage``: exactly-once delivery, thread engagement, the
terminal's ``--model`` and the web chat's history go through these verbs, so the database
schema can change without any adapter noticing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.vocabulary import ConversationKey
from storage import Database


@dataclass(frozen=True, slots=True)
class ShownMessage:
    """A message as a history view shows it."""

    id: int
    role: str
    text: str
    status: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class History:
    conversation_id: int | None
    model: str | None
    messages: list[ShownMessage]


class Conversations:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim_event(self, source: str, event_id: str) -> bool:
        """True the first time ``(source, event_id)`` is seen, across workers and restarts:
        the platform's redeliveries of an update are answered once."""
        return await self._db.events.claim(source, event_id)

    async def is_engaged(self, key: ConversationKey) -> bool:
        """Whether the bot ever spoke in this conversation (a Slack thread it joined)."""
        return await self._db.conversations.active(key) is not None

    async def set_model(self, key: ConversationKey, model_id: str, *, is_group: bool) -> None:
        """Remember ``model_id`` for this conversation (the caller checked the catalog)."""
        record = await self._db.conversations.get_or_create(key, is_group=is_group)
        await self._db.conversations.update_settings(record.id, model=model_id)

    async def was_answered(self, key: ConversationKey, platform_message_id: str) -> bool:
        """Whether the bot answered the message with this platform id here (edits of it may
        be answered again, ANSWER_EDITS)."""
        record = await self._db.conversations.active(key)
        if record is None:
            return False
        return await self._db.messages.answered(record.id, platform_message_id)

    async def unseen(self, key: ConversationKey, platform_message_ids: Sequence[str]) -> list[str]:
        """The ids (in the order given) of platform messages not stored here yet, so history
        read again from a platform is stored once."""
        record = await self._db.conversations.active(key)
        if record is None:
            return list(platform_message_ids)
        stored = await self._db.messages.stored_platform_ids(record.id, platform_message_ids)
        return [i for i in platform_message_ids if i not in stored]

    async def active_id(self, key: ConversationKey) -> int | None:
        record = await self._db.conversations.active(key)
        return record.id if record else None

    async def history(self, key: ConversationKey, *, limit: int) -> History:
        """The active conversation's newest ``limit`` user and assistant messages, in order."""
        record = await self._db.conversations.active(key)
        if record is None:
            return History(conversation_id=None, model=None, messages=[])
        stored = await self._db.messages.page(record.id, limit=limit)
        messages = [
            ShownMessage(m.id, m.role, m.content, m.status, m.created_at)
            for m in sorted(stored, key=lambda m: m.turn_order)
            if m.role in ("user", "assistant")
        ]
        return History(conversation_id=record.id, model=record.model, messages=messages)

    async def instance_secret(self, name: str, make: Callable[[], str]) -> str:
        """A random value made once per deployment and shared by every worker."""
        return await self._db.secrets.get_or_create(name, make)
