"""The page's view of a conversation: the active one's messages, oldest first."""

from __future__ import annotations

from storage import Database
from storage.records import ConversationKey

HISTORY_LIMIT = 200  # the page shows the newest messages; Kimi's context is built elsewhere


async def history_payload(db: Database, key: ConversationKey) -> dict[str, object]:
    conversation = await db.conversations.active(key)
    if conversation is None:
        return {"conversation": None, "model": None, "messages": []}
    stored = await db.messages.page(conversation.id, limit=HISTORY_LIMIT)
    messages = [
        {
            "id": m.id,
            "role": m.role,
            "text": m.content,
            "status": m.status,
            "at": m.created_at.isoformat() if m.created_at else None,
        }
        for m in sorted(stored, key=lambda m: m.turn_order)
        if m.role in ("user", "assistant")
    ]
    return {"conversation": conversation.id, "model": conversation.model, "messages": messages}
