"""Slack's side of ``bots.common.parts``: part sizes, mrkdwn fitting, native or posted writers.

Native streams take 12,000 characters of Markdown per message; the post + update fallback
sends mrkdwn, which Slack shows in full only up to ~4,000 characters, so its parts are smaller
and re-fitted after conversion. When Slack refuses the first native stream, nothing is shown
yet: the answer starts over as post + update (``Resplit``). A later part's refused stream is
posted instead (Markdown, as streams render it), keeping the parts already split.

An answer may end with blocks (its feedback buttons, :mod:`bots.slack.feedback`): they go on
its last message only, the one whose final text is the last part of the final text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.common.parts import AnswerParts, PartWriter, Resplit
from bots.common.splitting import split_markdown
from bots.common.weak import weak_callback
from bots.slack.api import error_code
from bots.slack.mrkdwn import to_mrkdwn
from bots.slack.target import ReplyTarget
from bots.slack.writers import Blocks, NativeWriter, PostedWriter, StreamingUnavailable

log = logging.getLogger(__name__)

NATIVE_LIMIT = 12_000  # markdown_text per call (and per message, to be safe)
MRKDWN_LIMIT = 3_900  # Slack shows ~4,000 characters of a message's text before "show more"
MRKDWN_SOURCE_LIMIT = 3_500  # Markdown per part before conversion (which may grow it)
# Slack refused the blocks themselves: the message ends without them.
BLOCKS_REFUSED = frozenset({"invalid_blocks", "invalid_blocks_format", "invalid_arguments"})


class SlackLayout:
    """Part limits and writers of one Slack answer; ``native`` turns off if Slack refuses."""

    def __init__(
        self,
        client: AsyncWebClient,
        target: ReplyTarget,
        *,
        native: bool,
        on_stream_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self.client = client
        self.target = target
        self.native = native
        self.on_stream_refused = on_stream_refused
        self.closing: Blocks | None = None  # what the answer's last message ends with
        self.final_text: str | None = None  # the answer's final text, once it is finishing
        self.attached = False  # the closing blocks landed
        self.parts_of: Callable[[str], list[str]] = lambda text: [text]

    @property
    def limit(self) -> int:
        return NATIVE_LIMIT if self.native else MRKDWN_SOURCE_LIMIT

    def fit(self, part: str) -> list[str]:
        return [part] if self.native else _fit_mrkdwn(part)

    def writer(self, index: int) -> PartWriter:
        return _SlackPart(self, index)

    def closing_for(self, part: str) -> Blocks | None:
        """The closing blocks if ``part`` is the answer's last part (as split now: a refused
        stream re-splits the answer), else None."""
        if not self.closing or self.final_text is None or self.attached:
            return None
        parts = self.parts_of(self.final_text)
        return self.closing if parts and parts[-1] == part else None


class Answer(AnswerParts):
    """Parts of one Slack answer, in thread order."""

    def __init__(
        self,
        client: AsyncWebClient,
        target: ReplyTarget,
        *,
        native: bool,
        on_stream_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self.layout = SlackLayout(
            client, target, native=native, on_stream_refused=on_stream_refused
        )
        super().__init__(self.layout)
        # weakly: the layout is ours, and a bound method would make the two a reference cycle
        self.layout.parts_of = weak_callback(self.parts, lambda text: [text])

    @property
    def limit(self) -> int:
        return self.layout.limit

    def end_with(self, blocks: Blocks | None) -> None:
        """The answer's last message ends with ``blocks`` (set before the final text)."""
        self.layout.closing = blocks

    @property
    def attached(self) -> bool:
        """The closing blocks landed on the last message."""
        return self.layout.attached

    async def finish(self, text: str) -> None:
        self.layout.final_text = text
        await super().finish(text)


class _SlackPart:
    """One message: a native stream or a posted message, switching if Slack refuses streams."""

    def __init__(self, layout: SlackLayout, index: int) -> None:
        self._layout = layout
        self._index = index
        self._writer: NativeWriter | PostedWriter = (
            NativeWriter(layout.client, layout.target)
            if layout.native
            else PostedWriter(layout.client, layout.target, markdown=False)
        )

    async def show(self, text: str) -> None:
        await self._write(lambda writer: writer.show(text))

    async def finish(self, text: str) -> None:
        blocks = self._layout.closing_for(text)
        if blocks is None:
            await self._write(lambda writer: writer.finish(text))
            return
        try:
            await self._write(lambda writer: writer.finish(text, blocks))
        except SlackApiError as error:
            if error_code(error) not in BLOCKS_REFUSED:
                raise
            log.warning("Slack refused the answer's blocks (%s): ending without", error_code(error))
            await self._write(lambda writer: writer.finish(text))
            return
        self._layout.attached = self._writer.attached

    async def delete(self) -> None:
        try:
            await self._writer.delete()
        except SlackApiError as error:
            log.warning("could not delete a leftover answer message: %s", error_code(error))

    async def _write(
        self, action: Callable[[NativeWriter | PostedWriter], Awaitable[None]]
    ) -> None:
        try:
            await action(self._writer)
        except StreamingUnavailable as refused:
            self._layout.on_stream_refused()
            if self._index == 0:
                log.info("Slack native streaming refused (%s): using post + update", refused)
                self._layout.native = False
                raise Resplit from refused
            log.warning(
                "Slack stream for part %d refused (%s): posting it", self._index + 1, refused
            )
            self._writer = PostedWriter(self._layout.client, self._layout.target, markdown=True)
            await action(self._writer)


def _fit_mrkdwn(part: str) -> list[str]:
    """Split a Markdown part until each converts to at most MRKDWN_LIMIT characters."""
    converted = len(to_mrkdwn(part))
    if converted <= MRKDWN_LIMIT or len(part) < 200:
        return [part]
    limit = min(len(part) * MRKDWN_LIMIT // converted - 50, len(part) // 2 + 20)
    return [piece for sub in split_markdown(part, max(limit, 100)) for piece in _fit_mrkdwn(sub)]
