"""One line for every write transaction on a database (see :class:`WriteGate`)."""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.write_steps import Step, run_alone, run_planned

T = TypeVar("T")

WRITES_PER_COMMIT = 64  # the most queued writes one SQLite transaction takes

_GATES: weakref.WeakKeyDictionary[AsyncEngine, WriteGate] = weakref.WeakKeyDictionary()


class WriteGate:
    """Every write transaction on a database goes through here (:meth:`of` gives the engine's
    one gate), which on SQLite means one writer at a time and many writes per commit.

    Why one at a time: concurrent writers meet in SQLite's busy handler, which sleeps between
    tries (up to 100 ms each) while holding a pooled connection. Under load the pool ran dry
    and turns failed after SQLAlchemy's 30-second pool timeout; and a writer outside the line
    (a Telegram answer's post links) starved behind the line's back-to-back commits for up to
    the 30-second busy timeout, then failed "database is locked", holding a connection all
    along, until every turn waited for one (bench/NOTES.md). Queued here, a writer holds no
    connection until its turn, and readers (WAL) are never held up.

    Why many per commit (group commit): each transaction costs several round trips between
    aiosqlite's thread and the event loop (take a connection, commit, reset it on return), and
    under load every round trip waits for the loop's turn. Writes that queued while the
    previous commit ran share the next one.

    Three kinds of write:

    - :meth:`write`: statements built once and their rows (:class:`storage.write_steps.Step`);
      the same statement of the writes in one commit runs as one execution, so a busy line's
      commit costs about what a quiet one's does. The hot path's writes are of this kind.
    - :meth:`run` (and :meth:`execute`): a coroutine function given the connection, whose
      result (or exception) is returned once its transaction has committed. When one write of
      a shared commit fails, the transaction is rolled back and each write of it runs alone,
      so only the failing one fails; so such a write may run twice and must only use the
      connection.
    - :meth:`transaction`: ``async with gate.transaction() as connection`` for a transaction of
      the caller's own (any statements, reads between them, an exception rolls it back). It
      takes its turn in the same line but never shares its commit.

    A caller cancelled before its turn is skipped. PostgreSQL has row locks: each write is its
    own transaction there. Not reentrant: a write must not queue another and wait for it.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queued = engine.dialect.name == "sqlite"
        self._pending: deque[_Write[Any] | _Solo] = deque()
        self._committer: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, engine: AsyncEngine) -> WriteGate:
        """The engine's gate: every repository on one database shares one line."""
        gate = _GATES.get(engine)
        if gate is None:
            gate = _GATES[engine] = cls(engine)
        return gate

    async def write(self, *steps: Step) -> list[int]:
        """Run ``steps`` in order in a transaction (shared with other queued writes on SQLite);
        the ids that its ``returns_ids`` steps inserted."""
        if not self._queued:
            async with self._engine.begin() as connection:
                return await run_alone(connection, steps)
        queued: _Write[list[int]] = _Write(None, asyncio.get_running_loop().create_future(), steps)
        self._enqueue(queued)
        return await queued.result

    async def run(self, write: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``write`` in a transaction (shared with other queued writes on SQLite)."""
        if not self._queued:
            async with self._engine.begin() as connection:
                return await write(connection)
        queued = _Write(write, asyncio.get_running_loop().create_future())
        self._enqueue(queued)
        return await queued.result

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
        loop = asyncio.get_running_loop()
        solo = _Solo(loop.create_future(), loop.create_future(), loop.create_future())
        self._enqueue(solo)
        try:
            connection = await solo.granted
            yield connection
        except BaseException as exc:
            if not solo.outcome.done():
                solo.outcome.set_result(exc)  # roll back (or skip, if not granted yet)
            raise
        solo.outcome.set_result(None)
        await solo.committed

    def _enqueue(self, write: _Write[Any] | _Solo) -> None:
        self._pending.append(write)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending(), name="sqlite-writes")

    async def _commit_pending(self) -> None:
        batch: list[_Write[Any]] = []
        solo: _Solo | None = None
        try:
            while self._pending:
                if isinstance(self._pending[0], _Solo):
                    solo = self._pending.popleft()  # type: ignore[assignment]
                    await self._run_solo(solo)
                    solo = None
                    continue
                batch = []
                while (
                    self._pending
                    and len(batch) < WRITES_PER_COMMIT
                    and isinstance(self._pending[0], _Write)
                ):
                    batch.append(self._pending.popleft())  # type: ignore[arg-type]
                await self._commit([w for w in batch if not w.result.done()])
        finally:  # cancelled (the loop is closing): nobody may wait forever
            for write in [*batch, *([solo] if solo else []), *self._pending]:
                write.abandon()
            self._pending.clear()

    async def _commit(self, batch: list[_Write[Any]]) -> None:
        if not batch:
            return
        try:
            async with self._engine.begin() as connection:
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
        if solo.outcome.done():  # the caller left before its turn
            return
        try:
            async with self._engine.begin() as connection:
                solo.granted.set_result(connection)
                failure = await solo.outcome
                if failure is not None:
                    raise _RolledBack from failure
        except _RolledBack:
            return  # the caller raises its own exception
        except Exception as exc:  # opening or committing failed: the caller hears of it
            target = solo.committed if solo.granted.done() else solo.granted
            if not target.done():
                target.set_exception(exc)
            return
        solo.committed.set_result(None)


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


class _RolledBack(Exception):
    """Raised inside a solo transaction to roll it back: its block raised."""


@dataclass(slots=True)
class _Write(Generic[T]):
    """A queued write (a coroutine function, or steps) and the future its caller awaits."""

    run: Callable[[AsyncConnection], Awaitable[T]] | None
    result: asyncio.Future[T]
    steps: Sequence[Step] | None = None

    def succeed(self, value: T) -> None:
        if not self.result.done():  # the caller may have been cancelled meanwhile
            self.result.set_result(value)

    def fail(self, exc: BaseException) -> None:
        if not self.result.done():
            self.result.set_exception(exc)

    def abandon(self) -> None:
        if not self.result.done():
            self.result.cancel()


@dataclass(slots=True)
class _Solo:
    """A caller's own transaction waiting in line: ``granted`` hands it the connection,
    ``outcome`` brings back how its block ended (None, or what it raised), ``committed``
    the commit's result."""

    granted: asyncio.Future[AsyncConnection]
    outcome: asyncio.Future[BaseException | None]
    committed: asyncio.Future[None]

    def abandon(self) -> None:
        for future in (self.granted, self.committed):
            if not future.done():
                future.cancel()
        if not self.outcome.done():
            self.outcome.set_result(None)
