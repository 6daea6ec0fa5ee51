"""Engine and session factory: SQLite (WAL, busy timeout) by default, PostgreSQL via asyncpg."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.write_gate import WRITES_PER_COMMIT, WriteGate

__all__ = ["WRITES_PER_COMMIT", "WriteGate", "create_engine", "session_factory"]


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
