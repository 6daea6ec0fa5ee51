"""Engine and session factory: SQLite (WAL, busy timeout) by default, PostgreSQL via asyncpg."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Executable, event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")


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


WRITES_PER_COMMIT = 64  # the most queued writes one SQLite transaction takes


class WriteGate:
    """Write transactions of the hot path (messages: every turn stores two and closes one, and
    streaming answers checkpoint; event claims, ledger rows, summaries) go through here, one
    per database, which on SQLite means one writer at a time and many writes per commit.

    Why one at a time: concurrent writers meet in SQLite's busy handler, which sleeps between
    tries (up to 100 ms each) while holding a pooled connection; under load the pool ran dry and
    turns failed after SQLAlchemy's 30-second pool timeout. Queued here, a writer holds no
    connection until its turn, and readers (WAL) are never held up.

    Why many per commit (group commit): each transaction costs several round trips between
    aiosqlite's thread and the event loop (take a connection, commit, reset it on return), and
    under load every round trip waits for the loop's turn. Measured in a 1,000-conversation
    soak with one transaction per write: ~80 writes/s held the gate 5-10 ms each (38-82 % busy)
    and writers waited 6-232 ms on average, up to a second, on the way to the first token
    (bench/NOTES.md). Writes that queued while the previous commit ran now share the next one.

    A write is a coroutine function given the connection; its result (or its exception) is
    returned to its caller once its transaction has committed. When one write of a shared
    commit fails, the transaction is rolled back and each write of it runs alone, so only the
    failing one fails. A caller cancelled before its write started is skipped (once started,
    the write commits with the others). PostgreSQL has row locks: each write is its own
    transaction there. Not reentrant: a write must not queue another and wait for it.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queued = engine.dialect.name == "sqlite"
        self._pending: deque[_Write[Any]] = deque()
        self._committer: asyncio.Task[None] | None = None

    async def run(self, write: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``write`` in a transaction (shared with other queued writes on SQLite)."""
        if not self._queued:
            async with self._engine.begin() as connection:
                return await write(connection)
        queued = _Write(write, asyncio.get_running_loop().create_future())
        self._pending.append(queued)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending(), name="sqlite-writes")
        return await queued.result

    async def execute(self, statement: Executable) -> None:
        """One statement as a write of its own (see :meth:`run`); for a result (a row count, a
        returned id), read it inside a write given to :meth:`run`, before the commit."""
        await self.run(lambda connection: connection.execute(statement))

    async def _commit_pending(self) -> None:
        batch: list[_Write[Any]] = []
        try:
            while self._pending:
                count = min(len(self._pending), WRITES_PER_COMMIT)
                batch = [self._pending.popleft() for _ in range(count)]
                await self._commit([w for w in batch if not w.result.done()])
        finally:  # cancelled (the loop is closing): nobody may wait forever
            for write in [*batch, *self._pending]:
                if not write.result.done():
                    write.result.cancel()
            self._pending.clear()

    async def _commit(self, batch: list[_Write[Any]]) -> None:
        if not batch:
            return
        try:
            async with self._engine.begin() as connection:
                results = [await write.run(connection) for write in batch]
        except Exception as exc:
            if len(batch) == 1:
                batch[0].fail(exc)
                return
            for write in batch:  # the transaction rolled back: each alone, so one fails alone
                await self._commit([write])
            return
        for write, result in zip(batch, results, strict=True):
            write.succeed(result)


@dataclass(slots=True)
class _Write(Generic[T]):
    """A queued write and the future its caller awaits."""

    run: Callable[[AsyncConnection], Awaitable[T]]
    result: asyncio.Future[T]

    def succeed(self, value: T) -> None:
        if not self.result.done():  # the caller may have been cancelled meanwhile
            self.result.set_result(value)

    def fail(self, exc: BaseException) -> None:
        if not self.result.done():
            self.result.set_exception(exc)
