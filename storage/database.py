"""Engine and session factory: SQLite (WAL, busy timeout) by default, PostgreSQL via asyncpg."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> AsyncEngine:
    """An async engine tuned per backend; SQLite gets WAL so readers never block the writer."""
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        # A fixed set of connections, opened as needed and then kept: an overflow connection
        # is closed when it comes back, and each aiosqlite connection is a thread and a fresh
        # SQLite page cache, so under steady load the churn cost CPU and fragmented memory.
        kwargs = {"connect_args": {"timeout": 30}}
        if not _in_memory(url):  # one shared in-memory connection (StaticPool) takes no sizes
            kwargs.update(pool_size=pool_size + max_overflow, max_overflow=0)
    else:
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _in_memory(url: str) -> bool:
    database = make_url(url).database or ""
    return database in ("", ":memory:") or "mode=memory" in url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


class WriteGate:
    """Write transactions of the hot path (messages: every turn stores two and closes one, and
    streaming answers checkpoint) take turns here on SQLite, which has one writer at a time.

    Without it, concurrent writers meet in SQLite's busy handler, which sleeps between tries
    (up to 100 ms each) while holding a pooled connection: under load the pool ran dry and
    turns failed after SQLAlchemy's 30-second pool timeout. Queued here, a writer holds no
    connection until its turn, and readers (WAL) are never held up. PostgreSQL has row locks
    and no gate. Not reentrant: a gated transaction must not open another."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        if self._lock is None:
            async with self._engine.begin() as connection:
                yield connection
            return
        async with self._lock, self._engine.begin() as connection:
            yield connection
