"""Conversation locks shared through PostgreSQL advisory locks (PostgreSQL without Redis).

A held lock is a session-level ``pg_advisory_lock(namespace, conversation id)`` on a connection
of its own (not from the pool: a session lock belongs to the connection, and a pooled connection
would carry it into someone else's work). PostgreSQL queues the waiters and wakes the next one
the moment the holder unlocks, and if a worker dies its connection closes and the server releases
the lock at once, so no lease or renewal is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)

# First key of the two-int form, so these locks never collide with other users of the database
# (our migrations use the one-bigint form).
NAMESPACE = 0x4B494D49  # "KIMI"


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://…`` (SQLAlchemy's form) as asyncpg wants it."""
    return "postgresql://" + url.split("://", 1)[1]


class AdvisoryLocks:
    """``hold(conversation_id)`` across processes through one PostgreSQL database."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        self._dsn = asyncpg_dsn(url)
        self._timeout = connect_timeout

    @asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[bool]:
        import asyncpg

        key = (NAMESPACE, int(conversation_id) & 0x7FFFFFFF)
        connection: Any = await asyncpg.connect(self._dsn, timeout=self._timeout)
        try:
            got = await connection.fetchval("SELECT pg_try_advisory_lock($1, $2)", *key)
            if not got:
                await connection.fetchval("SELECT pg_advisory_lock($1, $2)", *key)
            yield not got
        finally:
            # Closing the session releases its advisory locks; shielded so a cancellation
            # cannot leave the connection (and the lock) open.
            await asyncio.shield(_close(connection))


async def _close(connection: Any) -> None:
    try:
        if not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    connection.execute("SELECT pg_advisory_unlock_all()"), timeout=5
                )
            await asyncio.wait_for(connection.close(), timeout=5)
    except Exception as exc:
        log.warning("advisory lock connection did not close cleanly (%s); terminating it", exc)
        connection.terminate()
