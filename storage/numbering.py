"""Per-conversation numbers users refer to (``/forget 2``, ``/forget image 3``): they grow and
are never reused, so a number always means the same document or image in a conversation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection


async def next_number(
    connection: AsyncConnection, number: Any, conversation: Any, conversation_id: int
) -> int:
    """One more than the highest ``number`` column value among the conversation's rows (1 for
    the first); call it inside the transaction that inserts the row."""
    query = select(func.max(number)).where(conversation == conversation_id)
    last = (await connection.execute(query)).scalar()
    return int(last or 0) + 1
