"""One streamed answer on a platform that edits messages: paced previews, then the final text.

Shared by the Telegram and Slack sinks. The web chat has no length or rate limit and uses only
``AnswerParts`` (see ``bots/web/sink.py``).
The platform supplies :class:`~bots.common.parts.AnswerParts` for the answer and a factory for
standalone replies; this class owns the rest of the ReplySink contract (``core/types.py``):

* ``append`` records text; a :class:`StreamPacer` previews it at most once per ``interval``,
  and the parts settle into real messages as they fill up.
* ``complete``/``abort`` end the answer once: previews stop, every final part lands in order.
  ``abort`` keeps what was said (an open code block closed) and adds a note saying why.
* ``reply`` sends a standalone message at once and leaves the answer alone: it keeps streaming.

One lock orders the platform calls (a preview, a reply, the final text) so they never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bots.common.pacing import StreamPacer
from bots.common.parts import AnswerParts
from bots.common.splitting import close_open_fence
from bots.common.weak import weak_async_callback

log = logging.getLogger(__name__)

Note = Callable[[str], str]


class RetryLater(Exception):
    """A preview met the platform's rate limit: no preview before ``seconds`` from now."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry in {seconds:.1f}s")
        self.seconds = seconds


def with_note(partial: str, note: str) -> str:
    """The partial answer, an open code block closed, then the note as its own paragraph."""
    return f"{close_open_fence(partial).rstrip()}\n\n{note}"


class StreamedAnswer:
    def __init__(
        self,
        parts: AnswerParts,
        *,
        interval: float,
        standalone: Callable[[], AnswerParts],
        note: Note,
        note_alone: Note | None = None,
        ended: asyncio.Event | None = None,
    ) -> None:
        """``note`` words the reason under partial text, ``note_alone`` when nothing was said;
        ``ended`` is set when the answer ends (a platform's previews give up waiting on it)."""
        self.parts = parts
        self._standalone = standalone
        self._note = note
        self._note_alone = note_alone or note
        self._ended = ended or asyncio.Event()
        # weakly: the pacer is ours, and a bound method would make the two a reference cycle
        self._pacer = StreamPacer(weak_async_callback(self._preview), interval)
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None

    @property
    def text(self) -> str:
        """Everything appended so far."""
        return self._pacer.text

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def append(self, delta: str) -> None:
        self._pacer.append(delta)

    def refresh(self) -> None:
        """Preview now, outside the pacing: how the preview looks changed (e.g. a notice)."""
        if self.ended or (self._refresh is not None and not self._refresh.done()):
            return
        self._refresh = asyncio.create_task(self._refresh_now(), name="answer-refresh")

    async def complete(self, text: str) -> None:
        await self._end(text)

    async def abort(self, partial_text: str, reason: str) -> None:
        """Keep what was said and say visibly why it stopped."""
        if partial_text.strip():
            await self._end(with_note(partial_text, self._note(reason)))
        else:
            await self._end(self._note_alone(reason))

    async def reply(self, text: str) -> None:
        """A standalone message beside the answer; the answer's parts and pacing go on."""
        if not text.strip():
            return
        async with self._lock:
            await self._standalone().finish(text)

    async def _preview(self, snapshot: str) -> None:
        async with self._lock:
            if self.ended:
                return
            try:
                await self.parts.show(snapshot)
            except RetryLater as wait:
                log.info("preview rate-limited; next one in %.1fs", wait.seconds)
                self._pacer.pause(wait.seconds)

    async def _refresh_now(self) -> None:
        try:
            await self._preview(self._pacer.text)
        except Exception as exc:  # a preview is best effort, like the pacer's
            log.info("could not refresh the preview: %s", exc)

    async def _end(self, text: str) -> None:
        if self.ended:
            log.warning("answer ended twice; ignoring the second end")
            return
        self._ended.set()
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh
        await self._pacer.finish()
        async with self._lock:
            await self.parts.finish(text)
