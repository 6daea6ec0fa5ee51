"""Time-paced previews of a streamed answer, shared by every adapter that streams by editing.

The model's stream never waits for the platform: ``append`` only records text, and one
background task shows the latest text at most once per ``interval`` (platforms allow about
one edit per second per chat). ``pause`` pushes the next preview back, for a 429's
``retry_after``. ``finish`` stops previews; the adapter then sends the final text itself,
which must land whatever happened to the previews.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Preview = Callable[[str], Awaitable[None]]


class StreamPacer:
    def __init__(
        self,
        preview: Preview,
        interval: float,
        *,
        first_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._preview = preview
        self._interval = interval
        self._clock = clock
        self._text = ""
        self._shown = ""
        self._changed = asyncio.Event()
        self._not_before = clock() + first_delay
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._closed_event = asyncio.Event()
        self.previews = 0

    @property
    def text(self) -> str:
        return self._text

    @property
    def shown(self) -> str:
        """The text the last successful preview showed."""
        return self._shown

    def append(self, delta: str) -> None:
        if self._closed or not delta:
            return
        self._text += delta
        self._changed.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stream-pacer")

    def pause(self, seconds: float) -> None:
        """No preview before ``seconds`` from now (e.g. a platform's ``retry_after``)."""
        self._not_before = max(self._not_before, self._clock() + seconds)

    async def finish(self) -> None:
        """Stop previewing; waits for a preview in flight so the final send comes after it."""
        self._closed = True
        self._closed_event.set()
        self._changed.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._closed:
            await self._changed.wait()
            self._changed.clear()
            wait = self._not_before - self._clock()
            if wait > 0:
                try:
                    await asyncio.wait_for(self._closed_event.wait(), wait)
                except TimeoutError:
                    pass
            if self._closed:
                return
            snapshot = self._text
            if snapshot == self._shown or not snapshot.strip():
                continue
            self._not_before = self._clock() + self._interval
            try:
                await self._preview(snapshot)
                self._shown = snapshot
                self.previews += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed preview is not fatal; the final send must land
                log.warning("stream preview failed: %s", exc)
            if self._text != self._shown:
                self._changed.set()
