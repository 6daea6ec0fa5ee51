"""A thread with an event loop of its own, where SQLite's write line runs its transactions.

Why a thread: every statement costs three or four round trips between aiosqlite's thread and
the event loop that awaits it (open a cursor, execute, fetch, close), and a transaction runs
them one after another. On the service's loop each round trip waits for the loop's turn, which
under load is a whole iteration over every stream's chunks (5-30 ms in a 1,000-conversation
soak), so the line, which runs one transaction at a time, fell behind whenever the load rose a
little, and every turn's first token waited behind it (bench/NOTES.md). Here the loop has
nothing else to do: a round trip costs what the thread switch costs, and the service's loop
waits once per write, for its result.

The engine is created in the thread and used only there (SQLAlchemy's pool and aiosqlite's
connections stay on one loop); callers hand work over with ``call_soon_threadsafe`` and get
results through :class:`concurrent.futures.Future`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

START_TIMEOUT = 10.0  # seconds for the thread's loop to start
WATCH_EVERY = 0.5  # seconds between looks at whether the main thread has ended


class WriterThread:
    """The line's own loop and engine (one connection): started on first use."""

    def __init__(self, make_engine: Callable[[], AsyncEngine], name: str = "sqlite-writer") -> None:
        self._make_engine = make_engine
        self._name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: AsyncEngine | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The line's engine; only for use on :attr:`loop` (tests listen to its events)."""
        self._start()
        assert self._engine is not None
        return self._engine

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        self._start()
        assert self._loop is not None
        return self._loop

    def call(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` on the thread's loop, soon (from any thread)."""
        self.loop.call_soon_threadsafe(function, *args)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            started = threading.Event()
            loop = asyncio.new_event_loop()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                engine = self._engine = self._make_engine()
                loop.call_soon(started.set)
                loop.call_later(WATCH_EVERY, self._watch_the_main_thread, loop, engine)
                loop.run_forever()
                loop.close()

            thread = threading.Thread(target=serve, name=self._name)
            thread.start()
            if not started.wait(START_TIMEOUT):
                raise RuntimeError("the database writer thread did not start")
            self._loop, self._thread = loop, thread

    def _watch_the_main_thread(self, loop: asyncio.AbstractEventLoop, engine: AsyncEngine) -> None:
        """A process ending without closing its database (a command, a test): the engine's
        connection is a thread that the interpreter waits for at exit, so close it then."""
        if threading.main_thread().is_alive():
            loop.call_later(WATCH_EVERY, self._watch_the_main_thread, loop, engine)
            return

        async def close_and_stop() -> None:
            try:
                await engine.dispose()
            finally:
                loop.stop()

        loop.create_task(close_and_stop())

    async def close(self, before: Callable[[], Any] | None = None) -> None:
        """Run ``before`` (a coroutine function) on the thread's loop, close the engine, stop
        the loop and wait for the thread; nothing if it never started."""
        if self._thread is None or self._loop is None:
            return
        loop, thread, engine = self._loop, self._thread, self._engine

        async def wind_down() -> None:
            try:
                if before is not None:
                    await before()
            finally:
                if engine is not None:
                    await engine.dispose()

        done = asyncio.run_coroutine_threadsafe(wind_down(), loop)
        try:
            await asyncio.wrap_future(done)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, START_TIMEOUT)
            self._thread = self._loop = self._engine = None
