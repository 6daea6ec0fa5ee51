"""Per-conversation serialization: a second message waits until the first answer is done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


class ConversationLocks(Protocol):
    def hold(self, conversation_id: int) -> AbstractAsyncContextManager[bool]:
        """Hold the conversation's turn; yields True if another turn had to finish first."""
        ...


class InProcessLocks:
    """asyncio locks keyed by conversation id, dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    @asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[bool]:
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        self._users[conversation_id] = self._users.get(conversation_id, 0) + 1
        waited = lock.locked()
        try:
            async with lock:
                yield waited
        finally:
            self._users[conversation_id] -= 1
            if self._users[conversation_id] == 0:
                del self._users[conversation_id]
                del self._locks[conversation_id]

    def __len__(self) -> int:
        return len(self._locks)
