"""Conversation locks shared through PostgreSQL advisory locks (PostgreSQL without Redis).

A held lock is a session-level ``pg_advisory_lock(namespace, conversation id)``. Session locks
belong to a connection, so they cannot live on SQLAlchemy's pool (a pooled connection would
carry them into someone else's work), and one connection per held turn would cap a worker at
``max_connections`` concurrent turns. So each worker keeps:

* one **holder** connection on which every uncontended lock is taken with
  ``pg_try_advisory_lock`` and given back with ``pg_advisory_unlock``: one short round trip each,
  however many conversations are being answered at once;
* at most ``wait_connections`` **waiter** connections, only for a conversation another worker
  (or another holder here) is answering right now: ``pg_advisory_lock`` waits in PostgreSQL's
  own queue and wakes the moment the holder unlocks. More contended turns than that queue here,
  in memory, instead of failing with "too many connections".

If a worker dies its connections close and the server releases its locks at once, so no lease
or renewal is needed.
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


def lock_key(conversation_id: int) -> tuple[int, int]:
    return NAMESPACE, int(conversation_id) & 0x7FFFFFFF


class AdvisoryLocks:
    """``hold(conversation_id)`` across processes through one PostgreSQL database."""

    def __init__(
        self, url: str, *, wait_connections: int = 10, connect_timeout: float = 10.0
    ) -> None:
        self._dsn = asyncpg_dsn(url)
        self._timeout = connect_timeout
        self._holder: Any = None  # the asyncpg connection holding uncontended locks
        self._holder_busy = asyncio.Lock()  # asyncpg runs one query at a time per connection
        self._on_holder: set[int] = set()  # conversation ids locked on the holder connection
        self._waiters = asyncio.Semaphore(wait_connections)
        self._background: set[asyncio.Future[Any]] = set()

    @asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[bool]:
        key = int(conversation_id)
        attempt = asyncio.ensure_future(self._try_on_holder(key))
        try:
            connection = await asyncio.shield(attempt)
        except asyncio.CancelledError:
            attempt.add_done_callback(self._release_if_granted(key))
            raise
        if connection is not None:
            try:
                yield False
            finally:
                await asyncio.shield(self._release_on_holder(connection, key))
            return
        async with self._waiters, self._wait_for(key):
            yield True

    async def _try_on_holder(self, key: int) -> Any:
        """The holder connection if the lock was free and is now ours there, else None.

        Shielded by the caller: a cancellation must not leave a granted lock unrecorded.
        """
        async with self._holder_busy:
            if key in self._on_holder:
                return None  # another holder here: wait like any other worker would
            for attempt in (1, 2):
                connection = await self._holder_connection()
                try:
                    got = await connection.fetchval(
                        "SELECT pg_try_advisory_lock($1, $2)", *lock_key(key)
                    )
                    break
                except Exception as exc:  # a connection that died unnoticed: one fresh try
                    log.warning("advisory lock connection failed (%s); reconnecting", exc)
                    await self._drop_holder()
                    if attempt == 2:
                        raise
            if not got:
                return None
            self._on_holder.add(key)
            return connection

    def _release_if_granted(self, key: int) -> Any:
        """A done-callback for an attempt whose caller was cancelled: give back what it got."""

        def callback(attempt: asyncio.Future[Any]) -> None:
            if attempt.cancelled() or attempt.exception() is not None or attempt.result() is None:
                return
            release = asyncio.ensure_future(self._release_on_holder(attempt.result(), key))
            self._background.add(release)
            release.add_done_callback(self._background.discard)

        return callback

    async def _release_on_holder(self, connection: Any, key: int) -> None:
        async with self._holder_busy:
            if connection is not self._holder or key not in self._on_holder:
                return  # that connection was lost (and its locks with it) and replaced
            self._on_holder.discard(key)
            try:
                released = await connection.fetchval(
                    "SELECT pg_advisory_unlock($1, $2)", *lock_key(key)
                )
            except Exception as exc:
                log.warning("advisory unlock failed (%s); reconnecting the lock holder", exc)
                await self._drop_holder()
                return
            if not released:
                log.warning("advisory lock for conversation %s was not held at unlock", key)

    async def _holder_connection(self) -> Any:
        if self._holder is not None and not self._holder.is_closed():
            return self._holder
        if self._holder is not None:
            log.error(
                "advisory lock connection was lost; %d conversation locks went with it",
                len(self._on_holder),
            )
            self._on_holder.clear()
        import asyncpg

        self._holder = await asyncpg.connect(self._dsn, timeout=self._timeout)
        return self._holder

    async def _drop_holder(self) -> None:
        holder, self._holder = self._holder, None
        if self._on_holder:
            log.error(
                "dropping the advisory lock connection releases %d conversation locks in use",
                len(self._on_holder),
            )
        self._on_holder.clear()
        if holder is not None:
            await _close(holder)

    @asynccontextmanager
    async def _wait_for(self, key: int) -> AsyncIterator[None]:
        """Wait in PostgreSQL's queue on a connection of its own, and hold the lock there."""
        import asyncpg

        connection: Any = await asyncpg.connect(self._dsn, timeout=self._timeout)
        try:
            await connection.fetchval("SELECT pg_advisory_lock($1, $2)", *lock_key(key))
            yield
        finally:
            # Closing the session releases its advisory locks; shielded so a cancellation
            # cannot leave the connection (and the lock) open.
            await asyncio.shield(_close(connection))

    async def close(self) -> None:
        async with self._holder_busy:
            await self._drop_holder()


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
