"""One answer as consecutive platform messages ("parts"), each within the platform's limit.

Why parts are computed from the whole text each time: ``split_markdown`` is greedy, so the
parts of the text up to its last complete line, except the last part, never change as more
text arrives. Those parts are *settled*: their message is finished at once (a real message,
not a preview) and the next message starts. The part still growing is previewed. The final
text is split the same way, so settled messages are already right and nothing is sent twice.

A platform plugs in with a :class:`Layout`: its part limit, how it re-fits a part (Telegram
counts UTF-16 units, Slack's mrkdwn grows on conversion) and one :class:`PartWriter` per
message, which owns the rendering and the send/edit/draft calls.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from bots.common.splitting import inside_fence, split_markdown

log = logging.getLogger(__name__)

_CLOSING_FENCE = "\n```"  # what split_markdown adds to a part that ends inside a code block
_SMALLEST_SPLIT = 200  # a refused part shorter than this is not split further


class PartTooLong(Exception):
    """The platform refused a part as too long: it is split in two and written again."""


class Resplit(Exception):
    """Nothing is shown yet and the platform changed how it writes (and so splits): start over."""


class PartWriter(Protocol):
    """One message of an answer. Each call takes the message's whole text, not a delta."""

    async def show(self, text: str) -> None:
        """A best-effort preview of the message's text so far."""
        ...

    async def finish(self, text: str) -> None:
        """The message's final text; it must land (raise if it cannot)."""
        ...

    async def delete(self) -> None:
        """Remove a message the final text no longer needs (best effort, never raises)."""
        ...


class Layout(Protocol):
    """What a platform supplies: its part limit, its re-fitting, a writer per message."""

    @property
    def limit(self) -> int | None:
        """Markdown characters per part; ``None`` for no limit (the answer is one part)."""
        ...

    def fit(self, part: str) -> list[str]:
        """One part of ``split_markdown`` as the platform's parts (usually just ``[part]``)."""
        ...

    def writer(self, index: int) -> PartWriter:
        """A writer for the answer's message number ``index`` (0 is the first)."""
        ...


class AnswerParts:
    """The messages of one answer, in order: settled parts finished early, the rest at the end."""

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._writers: list[PartWriter] = []
        self._settled = 0  # parts whose message is final
        self._used = 0  # writers holding those parts (a refused part may need two)

    @property
    def messages(self) -> int:
        """Messages this answer has started (shown or finished)."""
        return len(self._writers)

    def parts(self, text: str) -> list[str]:
        limit = self._layout.limit
        if limit is None:
            return [text]
        return [fitted for part in split_markdown(text, limit) for fitted in self._layout.fit(part)]

    async def show(self, text: str) -> None:
        """Preview: finish the parts that can no longer change, show the growing one."""
        await self._restartable(lambda: self._show(text))

    async def finish(self, text: str) -> None:
        """The final text: every part lands, in order; leftover messages are removed."""
        await self._restartable(lambda: self._finish(text))
        for extra in self._writers[self._used :]:  # only if the final text is shorter
            await extra.delete()
        del self._writers[self._used :]

    async def _restartable(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Resplit:
            self._writers.clear()
            await work()

    async def _show(self, text: str) -> None:
        parts = self.parts(text)
        stable = self._stable(text)
        while self._settled < stable:
            await self._finalize(parts[self._settled])
            self._settled += 1
        if self._settled < len(parts):
            current = parts[self._settled]
            limit = self._layout.limit
            last = self._settled == len(parts) - 1
            if last and limit is not None and len(text) > limit and inside_fence(text):
                current = current.removesuffix(_CLOSING_FENCE)  # keep previews append-only
        elif self._settled == 0:
            current = ""  # nothing said yet; a platform may still show a status line
        else:
            return
        try:
            await self._writer(self._used).show(current)
        except PartTooLong:
            pass  # the final pass splits it further

    async def _finish(self, text: str) -> None:
        parts = self.parts(text)
        while self._settled < len(parts):
            await self._finalize(parts[self._settled])
            self._settled += 1

    def _stable(self, text: str) -> int:
        """How many leading parts can no longer change (see the module docstring)."""
        limit = self._layout.limit
        cut = text.rfind("\n") + 1
        if limit is None or len(text) <= limit or cut == 0:
            return 0
        settled = split_markdown(text[:cut], limit)[:-1]
        return sum(len(self._layout.fit(part)) for part in settled)

    async def _finalize(self, part: str) -> None:
        queue = [part]
        while queue:
            piece = queue.pop(0)
            try:
                await self._writer(self._used).finish(piece)
            except PartTooLong:
                if len(piece) < _SMALLEST_SPLIT:
                    raise
                log.info("the platform refused %d characters as too long: splitting", len(piece))
                queue[0:0] = split_markdown(piece, len(piece) // 2 + 20)
                continue
            self._used += 1

    def _writer(self, index: int) -> PartWriter:
        while len(self._writers) <= index:
            self._writers.append(self._layout.writer(len(self._writers)))
        return self._writers[index]
