"""The page's view of a conversation: the active one's messages, oldest first, as JSON."""

from __future__ import annotations

from core.conversations import Conversations
from core.vocabulary import ConversationKey

HISTORY_LIMIT = 200  # the page shows the newest messages; Kimi's context is built elsewhere


async def history_payload(conversations: Conversations, key: ConversationKey) -> dict[str, object]:
    history = await conversations.history(key, limit=HISTORY_LIMIT)
    return {
        "conversation": history.conversation_id,
        "model": history.model,
        "messages": [
            {
                "id": m.id,
                "role": m.role,
                "text": m.text,
                "status": m.status,
                "at": m.created_at.isoformat() if m.created_at else None,
            }
            for m in history.messages
        ],
    }
