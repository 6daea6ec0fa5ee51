"""Per-conversation serialization: a second message waits until the first answer is done.

Three implementations of one ``hold(conversation_id)`` (chosen in :mod:`core.service`):
:class:`InProcessLocks` for one process (SQLite), and, for several workers,
:class:`core.redis_locks.RedisLocks` (with ``REDIS_URL``) or
:class:`storage.advisory_locks.AdvisoryLocks` (PostgreSQL without Redis), each behind
:class:`LocalFirst` so a worker's own waiters queue in order without touching the backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Protocol


class ConversationLocks(Protocol):
    def hold(self, conversation_id: int) -> AbstractAsyncContextManager[bool]:
        """Hold the conversation's turn; yields True if another turn had to finish first."""
        ...


class Fenced(Protocol):
    """A held lock that carries a fencing token (see :mod:`core.redis_locks`)."""

    fence: int

    async def refence(self, floor: int) -> bool:
        """A new token above ``floor`` while still held; False if the lock was lost."""
        ...


# Set by locks with fencing tokens for the body of ``hold``; the assistant checks it in storage.
current_fence: ContextVar[Fenced | None] = ContextVar("current_fence", default=None)


class LocalFirst:
    """An in-process FIFO queue in front of a shared lock.

    Waiters of one worker line up in arrival order in memory; only the head of the line asks
    the shared backend, so a busy conversation costs the backend one poller per worker.
    """

    def __init__(self, shared: ConversationLocks) -> None:
        self.shared = shared
        self._local = InProcessLocks()

    @asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[bool]:
        async with self._local.hold(conversation_id) as queued:
            async with self.shared.hold(conversation_id) as waited:
                yield queued or waited

    async def close(self) -> None:
        close = getattr(self.shared, "close", None)
        if close is not None:
            await close()


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
