"""The ``/usage`` line for voice messages: how many were transcribed and how many seconds."""

from __future__ import annotations

from core import texts
from storage import Database


async def voice_line(
    db: Database, lang: str, *, user_id: str | None = None, chat_key: str | None = None
) -> str:
    """All-time voice totals of a user or a chat; empty when there were none (no line shown)."""
    totals = await db.transcriptions.totals(user_id=user_id, chat_key=chat_key)
    if not totals.messages:
        return ""
    key = "usage_voice_one" if totals.messages == 1 else "usage_voice"
    return texts.text(key, lang, count=totals.messages, seconds=totals.seconds)
