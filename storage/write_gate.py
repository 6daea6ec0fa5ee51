"""One line for every write transaction on a database (see :class:`WriteGate`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.write_steps import Step, run_alone, run_planned
from storage.writer_thread import WriterThread

T = TypeVar("T")

WRITES_PER_COMMIT = 64  # the most queued writes one SQLite transaction takes

_GATES: weakref.WeakKeyDictionary[AsyncEngine, WriteGate] = weakref.WeakKeyDictionary()


class WriteGate:
    """Every write transaction on a database goes through here (:meth:`of` gives the engine's
    one gate), which on SQLite means one writer at a time, many writes per commit, and a thread
    of its own (:mod:`storage.writer_thread`) for a database file.

    Why one at a time: concurrent writers meet in SQLite's busy handler, which sleeps between
    tries (up to 100 ms each) while holding a pooled connection. Under load the pool ran dry
    and turns failed after SQLAlchemy's 30-second pool timeout; and a writer outside the line
    (a Telegram answer's post links) starved behind the line's back-to-back commits for up to
    the 30-second busy timeout, then failed "database is locked", holding a connection all
    along, until every turn waited for one (bench/NOTES.md). Queued here, a writer holds no
    connection until its turn, and readers (WAL) are never held up.

    Why many per commit (group commit): each transaction costs several round trips between
    aiosqlite's thread and the event loop (take a connection, commit, reset it on return).
    Writes that queued while the previous commit ran share the next one.

    Three kinds of write:

    - :meth:`write`: statements built once and their rows (:class:`storage.write_steps.Step`);
      the same statement of the writes in one commit runs as one execution, so a busy line's
      commit costs about what a quiet one's does. The hot path's writes are of this kind.
    - :meth:`run` (and :meth:`execute`): a coroutine function given the connection, whose
      result (or exception) is returned once its transaction has committed. When one write of
      a shared commit fails, the transaction is rolled back and each write of it runs alone,
      so only the failing one fails; so such a write may run twice, and it must use only the
      connection (on a database file it runs on the line's own thread).
    - :meth:`transaction`: ``async with gate.transaction() as connection`` for a transaction of
      the caller's own (any statements, reads between them, an exception rolls it back), on the
      caller's engine. It takes its turn in the same line: the line waits until it has ended.

    A caller cancelled before its turn is skipped. PostgreSQL has row locks: each write is its
    own transaction there. Not reentrant: a write must not queue another and wait for it.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queued = engine.dialect.name == "sqlite"
        self._writer: WriterThread | None = None
        self._own_turns = 0  # transactions of callers holding the line's turn right now
        self._closed = False
        # The line's state below is touched only on the line's loop.
        self._pending: deque[_Write[Any] | _Solo] = deque()
        self._committer: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, engine: AsyncEngine) -> WriteGate:
        """The engine's gate: every repository on one database shares one line."""
        gate = _GATES.get(engine)
        if gate is None:
            gate = _GATES[engine] = cls(engine)
        return gate

    @property
    def own_turns(self) -> int:
        """How many :meth:`transaction` blocks hold the line's turn now (0 or 1; for tests)."""
        return self._own_turns

    @property
    def line_engine(self) -> AsyncEngine:
        """The engine the line's shared commits run on (its own, for a SQLite file)."""
        writer = self._line_writer()
        return writer.engine if writer is not None else self._engine

    async def write(self, *steps: Step) -> list[int]:
        """Run ``steps`` in order in a transaction (shared with other queued writes on SQLite);
        the ids that its ``returns_ids`` steps inserted."""
        if not self._queued:
            async with self._engine.begin() as connection:
                return await run_alone(connection, steps)
        return await self._submit(_Write(None, concurrent.futures.Future(), steps))

    async def run(self, write: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``write`` in a transaction (shared with other queued writes on SQLite)."""
        if not self._queued:
            async with self._engine.begin() as connection:
                return await write(connection)
        return await self._submit(_Write(write, concurrent.futures.Future()))

    async def execute(self, statement: Executable) -> None:
        """One statement as a write of its own (see :meth:`run`); for a result (a row count, a
        returned id), read it inside a write given to :meth:`run`, before the commit."""
        await self.run(lambda connection: connection.execute(statement))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction of the caller's own, in its turn: committed when the block ends (the
        block returns once it has), rolled back when the block raises."""
        if not self._queued:
            async with self._engine.begin() as connection:
                yield connection
            return
        solo = _Solo(concurrent.futures.Future())
        self._hand_over(solo)
        try:
            await asyncio.wrap_future(solo.granted)
        except BaseException:
            # Cancelled: if the line granted the turn meanwhile, give it back.
            solo.granted.add_done_callback(lambda granted: self._give_back(solo, granted))
            raise
        self._own_turns += 1
        try:
            async with self._engine.begin() as connection:
                yield connection
        finally:
            self._own_turns -= 1
            self._give_back(solo, solo.granted)

    async def close(self) -> None:
        """Stop the line's thread (writes still queued are cancelled); a database's close."""
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.close(before=self._stop_committer)
        _GATES.pop(self._engine, None)

    # -- the line (on its own loop for a database file, else on the caller's) ---------------

    def _line_writer(self) -> WriterThread | None:
        if self._closed:
            raise RuntimeError("the database is closed")
        if self._writer is None and self._queued and not _in_memory(self._engine):
            self._writer = WriterThread(self._make_line_engine)
        return self._writer

    def _make_line_engine(self) -> AsyncEngine:
        from storage.database import create_engine  # storage.database re-exports this module

        url = self._engine.url.render_as_string(hide_password=False)
        return create_engine(url, pool_size=1, max_overflow=0)

    async def _submit(self, write: _Write[T]) -> T:
        self._hand_over(write)
        return await asyncio.wrap_future(write.result)

    def _hand_over(self, item: _Write[Any] | _Solo) -> None:
        writer = self._line_writer()
        if writer is None:
            self._enqueue(item)
        else:
            writer.call(self._enqueue, item)

    def _give_back(self, solo: _Solo, granted: concurrent.futures.Future[None]) -> None:
        if granted.cancelled() or solo.finished is None:
            return
        finished = solo.finished
        loop = finished.get_loop()
        loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(None))

    def _enqueue(self, item: _Write[Any] | _Solo) -> None:
        self._pending.append(item)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending(), name="sqlite-writes")

    async def _stop_committer(self) -> None:
        if self._committer is not None and not self._committer.done():
            self._committer.cancel()
            await asyncio.gather(self._committer, return_exceptions=True)

    async def _commit_pending(self) -> None:
        batch: list[_Write[Any]] = []
        try:
            while self._pending:
                if isinstance(self._pending[0], _Solo):
                    await self._run_solo(self._pending.popleft())  # type: ignore[arg-type]
                    continue
                batch = []
                while (
                    self._pending
                    and len(batch) < WRITES_PER_COMMIT
                    and isinstance(self._pending[0], _Write)
                ):
                    write = self._pending.popleft()
                    if write.result.set_running_or_notify_cancel():  # type: ignore[union-attr]
                        batch.append(write)  # type: ignore[arg-type]
                await self._commit(batch)
                batch = []
        finally:  # cancelled (the line is closing): nobody may wait forever
            for item in [*batch, *self._pending]:
                item.abandon()
            self._pending.clear()

    async def _commit(self, batch: list[_Write[Any]]) -> None:
        if not batch:
            return
        try:
            async with self.line_engine.begin() as connection:
                results = await _run_batch(connection, batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].fail(exc)
                return
            for write in batch:  # the transaction rolled back: each alone, so one fails alone
                await self._commit([write])
            return
        for write, result in zip(batch, results, strict=True):
            write.succeed(result)

    async def _run_solo(self, solo: _Solo) -> None:
        """Grant the caller its turn and wait until its transaction has ended."""
        solo.finished = asyncio.get_running_loop().create_future()
        try:
            solo.granted.set_result(None)
        except concurrent.futures.InvalidStateError:
            return  # the caller left before its turn
        await solo.finished


def _in_memory(engine: AsyncEngine) -> bool:
    """An in-memory SQLite database is one connection of this loop: no thread can share it."""
    database = engine.url.database or ""
    return database in ("", ":memory:") or "mode=memory" in str(engine.url)


async def _run_batch(connection: AsyncConnection, batch: list[_Write[Any]]) -> list[Any]:
    """Every write of one commit: the step writes first, their equal statements shared, then
    the others in line order (writes queued together do not depend on each other: each caller
    waits for its own)."""
    stepped = [write for write in batch if write.steps is not None]
    results: dict[int, Any] = {}
    if stepped:
        planned = await run_planned(connection, [write.steps or () for write in stepped])
        results = {id(write): ids for write, ids in zip(stepped, planned, strict=True)}
    for write in batch:
        if write.run is not None:
            results[id(write)] = await write.run(connection)
    return [results[id(write)] for write in batch]


@dataclass(slots=True)
class _Write(Generic[T]):
    """A queued write (a coroutine function, or steps) and the future its caller awaits
    (thread-safe: the caller may wait on another loop)."""

    run: Callable[[AsyncConnection], Awaitable[T]] | None
    result: concurrent.futures.Future[T]
    steps: Sequence[Step] | None = None

    def succeed(self, value: T) -> None:
        if not self.result.done():
            self.result.set_result(value)

    def fail(self, exc: BaseException) -> None:
        if not self.result.done():
            self.result.set_exception(exc)

    def abandon(self) -> None:
        if not self.result.cancel() and not self.result.done():
            self.result.set_exception(RuntimeError("the database is closing"))


@dataclass(slots=True)
class _Solo:
    """A caller's own transaction waiting in line: ``granted`` gives it the turn; the line
    waits on ``finished`` (on the line's loop) until the caller's transaction has ended."""

    granted: concurrent.futures.Future[None]
    finished: asyncio.Future[None] | None = field(default=None)

    def abandon(self) -> None:
        self.granted.cancel()
