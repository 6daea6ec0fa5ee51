"""One answer as consecutive thread messages: splitting at platform limits while it streams.

Why parts are computed from the whole text each time: ``split_markdown`` is greedy, so the
parts of the text up to its last complete line, except the last part, never change as more
text arrives. Those parts are *settled*: their message is finished and the next message
starts. The part still growing is previewed in the current message. The final text is split
the same way, so the settled messages are already right and nothing is posted twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.common.splitting import split_markdown
from bots.slack.api import error_code
from bots.slack.mrkdwn import to_mrkdwn
from bots.slack.target import ReplyTarget
from bots.slack.writers import (
    MessageTooLong,
    NativeWriter,
    PostedWriter,
    StreamingUnavailable,
    Writer,
)

log = logging.getLogger(__name__)

NATIVE_LIMIT = 12_000  # markdown_text per call (and per message, to be safe)
MRKDWN_LIMIT = 3_900  # Slack shows ~4,000 characters of a message's text before "show more"
MRKDWN_SOURCE_LIMIT = 3_500  # Markdown per part before conversion (which may grow it)
_FENCE_LINE = re.compile(r"^\s*(```+|~~~+)", re.MULTILINE)


class _Restart(Exception):
    """Streaming was refused before anything was shown: split again for the fallback."""


class Answer:
    """Parts of one answer, each written by a ``Writer``, in thread order."""

    def __init__(
        self,
        client: AsyncWebClient,
        target: ReplyTarget,
        *,
        native: bool,
        on_stream_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self._client = client
        self._target = target
        self._native = native
        self._on_stream_refused = on_stream_refused
        self._writers: list[Writer] = []
        self._settled = 0  # parts whose message is final
        self._used = 0  # writers holding those parts (a too-long part may need two)

    @property
    def limit(self) -> int:
        return NATIVE_LIMIT if self._native else MRKDWN_SOURCE_LIMIT

    @property
    def messages(self) -> int:
        return len(self._writers)

    async def show(self, text: str) -> None:
        """Preview: finish parts that can no longer change, show the growing one."""
        await self._restartable(lambda: self._show(text))

    async def finish(self, text: str) -> None:
        """The final text: every part lands, in order; leftover messages are removed."""
        await self._restartable(lambda: self._finish(text))
        for extra in self._writers[self._used :]:  # only if the final text is shorter
            try:
                await extra.delete()
            except SlackApiError as error:
                log.warning("could not delete a leftover answer message: %s", error_code(error))
        del self._writers[self._used :]

    async def _restartable(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except _Restart:
            await work()

    async def _show(self, text: str) -> None:
        parts = self.parts(text)
        stable = self._stable(text)
        while self._settled < stable:
            await self._finalize(parts[self._settled])
            self._settled += 1
        if self._settled < len(parts):
            current = parts[self._settled]
            if self._settled == len(parts) - 1 and len(text) > self.limit and _inside_fence(text):
                current = current.removesuffix("\n```")  # keep previews append-only
            try:
                await self._use(self._used, lambda writer: writer.show(current))
            except MessageTooLong:
                pass  # the final pass splits it further

    async def _finish(self, text: str) -> None:
        parts = self.parts(text)
        while self._settled < len(parts):
            await self._finalize(parts[self._settled])
            self._settled += 1

    def parts(self, text: str) -> list[str]:
        parts = split_markdown(text, self.limit)
        if self._native:
            return parts
        return [fitted for part in parts for fitted in _fit_mrkdwn(part)]

    def _stable(self, text: str) -> int:
        """How many leading parts can no longer change (see the module docstring)."""
        cut = text.rfind("\n") + 1
        if len(text) <= self.limit or cut == 0:
            return 0
        settled = split_markdown(text[:cut], self.limit)[:-1]
        if self._native:
            return len(settled)
        return sum(len(_fit_mrkdwn(part)) for part in settled)

    async def _finalize(self, part: str) -> None:
        queue = [part]
        while queue:
            piece = queue.pop(0)
            try:
                await self._use(self._used, lambda writer, text=piece: writer.finish(text))
            except MessageTooLong:
                if len(piece) < 200:
                    raise
                log.info("Slack said msg_too_long for %d characters: splitting", len(piece))
                queue[0:0] = split_markdown(piece, len(piece) // 2 + 20)
                continue
            self._used += 1

    async def _use(self, index: int, action: Callable[[Writer], Awaitable[None]]) -> None:
        writer = self._writer(index)
        try:
            await action(writer)
        except StreamingUnavailable as refused:
            self._on_stream_refused()
            if index == 0:
                log.info("Slack native streaming refused (%s): using post + update", refused)
                self._native = False
                self._writers.clear()
                raise _Restart from refused
            log.warning("Slack stream for part %d refused (%s): posting it", index + 1, refused)
            self._writers[index] = PostedWriter(self._client, self._target, markdown=True)
            await action(self._writers[index])

    def _writer(self, index: int) -> Writer:
        while len(self._writers) <= index:
            if self._native:
                self._writers.append(NativeWriter(self._client, self._target))
            else:
                self._writers.append(PostedWriter(self._client, self._target, markdown=False))
        return self._writers[index]


def _fit_mrkdwn(part: str) -> list[str]:
    """Split a Markdown part until each converts to at most MRKDWN_LIMIT characters."""
    converted = len(to_mrkdwn(part))
    if converted <= MRKDWN_LIMIT or len(part) < 200:
        return [part]
    limit = min(len(part) * MRKDWN_LIMIT // converted - 50, len(part) // 2 + 20)
    return [piece for sub in split_markdown(part, max(limit, 100)) for piece in _fit_mrkdwn(sub)]


def _inside_fence(text: str) -> bool:
    return len(_FENCE_LINE.findall(text)) % 2 == 1
