"""Clocks for the limiter: the real ones, and a controllable one for tests and simulations.

Everything time-related in the limiter (windows, waits, leases, timeouts) goes through a
:class:`Clock`, so tests and the benchmark can drive hours of traffic without a real sleep.
``wall()`` is the Unix time the clock stands for: the calendar day a daily limit counts in.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """Seconds as a float, and a sleep measured on the same clock."""

    def now(self) -> float: ...

    def wall(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The in-process default: immune to wall-clock jumps."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class WallClock:
    """Unix time: the default of the Redis backend, whose windows are shared by many processes."""

    def now(self) -> float:
        return time.time()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """Time moves only when told to: :meth:`advance_to` / :meth:`run_until` wake due sleepers.

    ``settle`` is awaited between steps so woken tasks can run (and, for the Redis backend, finish
    their round trips) before time moves on; pass a coroutine function that returns when the
    system is quiet, or rely on the default of a few event-loop turns.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        """Fake time is Unix time too, so a test can cross a midnight."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        await future

    def next_deadline(self) -> float | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance_to(self, when: float) -> int:
        """Set the time (never backwards) and wake every sleeper due by then; returns how many."""
        self._now = max(self._now, when)
        woken = 0
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
                woken += 1
        return woken

    async def run_until(
        self, when: float, settle: _Settle | None = None, *, max_steps: int = 1_000_000
    ) -> None:
        """Jump from deadline to deadline up to ``when``, settling the event loop at each step."""
        settle = settle or _default_settle
        for _ in range(max_steps):
            await settle()
            deadline = self.next_deadline()
            if deadline is None or deadline > when:
                break
            self.advance_to(deadline)
        self.advance_to(when)
        await settle()

    async def run_while(
        self,
        pending: Awaitable[T],
        settle: _Settle | None = None,
        *,
        limit: float = 1e9,
    ) -> T:
        """Run the clock until ``pending`` finishes (or ``limit`` seconds pass); returns its result."""
        settle = settle or _default_settle
        task = asyncio.ensure_future(pending)
        end = self._now + limit
        while not task.done():
            await settle()
            if task.done():
                break
            deadline = self.next_deadline()
            if deadline is None or deadline > end:
                break
            self.advance_to(deadline)
        await settle()
        if not task.done():
            task.cancel()
        return await task


class _Settle(Protocol):
    def __call__(self) -> Awaitable[None]: ...


async def _default_settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)
