"""The ReplySink for Telegram: one answer streamed into one chat.

The streaming itself is :class:`~bots.common.answer.StreamedAnswer`; Telegram supplies its
part size (:class:`TelegramLayout`) and its messages (:class:`~bots.telegram.delivery.
TelegramPart`). Private chats preview with ``sendMessageDraft`` (an animated ephemeral draft);
where drafts are refused, and in groups, the preview is a message edited in place. Each part
of a long answer lands as a real message as soon as it is complete, and the preview moves on
to the next part. Retry notices show under the text so far until new text arrives; the typing
indicator stops once something is visible.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from telegram.error import TelegramError

from bots.common.answer import StreamedAnswer
from bots.common.parts import AnswerParts, PartWriter
from bots.common.splitting import close_open_fence
from bots.common.thinking import ThinkingClock
from bots.common.weak import weak_callback
from bots.telegram.chat_action import TypingIndicator
from bots.telegram.delivery import MessageWriter, Previews, TelegramPart, describe
from bots.telegram.formatting import PART_LIMIT, split_for_telegram
from core import texts

log = logging.getLogger(__name__)

EMPTY_ANSWER = "…"  # Telegram refuses an empty message


class TelegramLayout:
    """Telegram's side of ``AnswerParts``: 4,000-character parts re-fitted to UTF-16 units."""

    limit = PART_LIMIT

    def __init__(self, writer: MessageWriter, previews: Previews, *, markdown: bool = True) -> None:
        self._writer = writer
        self._previews = previews
        self._markdown = markdown

    def fit(self, part: str) -> list[str]:
        return split_for_telegram(part)  # a part within the limit: only the UTF-16 re-fit

    def writer(self, index: int) -> PartWriter:
        return TelegramPart(self._writer, self._previews, first=index == 0, markdown=self._markdown)


class TelegramSink:
    def __init__(
        self,
        writer: MessageWriter,
        *,
        interval: float,
        use_drafts: bool,
        lang: str = "en",
        typing: TypingIndicator | None = None,
        on_drafts_refused: Callable[[bool], None] | None = None,
    ) -> None:
        self._chat_id = writer.target.chat_id
        self._lang = lang
        self._typing = typing
        self._notice = ""
        self._thinking = ThinkingClock(lang)
        ended = asyncio.Event()
        previews = Previews(
            give_up=ended,
            drafts=use_drafts,
            # weakly: these previews belong to this sink (no reference cycle through them)
            decorate=weak_callback(self._with_notice, lambda text: text),
            on_visible=weak_callback(self._visible, lambda: None),
            on_drafts_refused=on_drafts_refused or (lambda everywhere: None),
        )
        # Replies are plain text and finished at once; they never touch the typing indicator.
        plain = Previews(give_up=ended, drafts=False)
        self._answer = StreamedAnswer(
            AnswerParts(TelegramLayout(writer, previews)),
            interval=interval,
            standalone=lambda: AnswerParts(TelegramLayout(writer, plain, markdown=False)),
            note=lambda reason: f"*{texts.text('incomplete', lang, reason=reason)}*",
            note_alone=lambda reason: reason,
            ended=ended,
        )
        # Timestamps (time.monotonic) for metrics and benchmarks.
        self.first_delta_at: float | None = None
        self.first_visible_at: float | None = None

    # -- ReplySink ------------------------------------------------------------------------
    async def begin(self) -> None:
        """Nothing to show yet: the typing indicator covers the wait for the first token."""

    async def append(self, delta: str) -> None:
        if self.first_delta_at is None:
            self.first_delta_at = time.monotonic()
        self._notice = ""
        self._answer.append(delta)

    async def thinking(self, delta: str) -> None:
        """The preview says "thinking… 12 s" (under any text so far) while the model reasons."""
        status = self._thinking.tick()
        if status is not None:
            self._show_notice(status)

    async def notice(self, text: str) -> None:
        """A status line (e.g. "retrying in 5s") under the text so far, until new text arrives."""
        self._thinking.hidden()
        self._show_notice(text)

    def _show_notice(self, text: str) -> None:
        if self._answer.ended:
            return
        self._notice = text
        self._answer.refresh()

    async def complete(self, text: str) -> None:
        self._stop_typing()
        await self._safely(self._answer.complete(text if text.strip() else EMPTY_ANSWER))

    async def abort(self, partial_text: str, reason: str) -> None:
        """Keep what was said and say visibly why it stopped."""
        self._stop_typing()
        await self._safely(self._answer.abort(partial_text, reason))

    async def reply(self, text: str) -> None:
        """A standalone plain-text message; an answer in progress keeps streaming after it."""
        await self._safely(self._answer.reply(text))

    # -- helpers ----------------------------------------------------------------------------
    def _with_notice(self, text: str) -> str:
        if not self._notice:
            return text
        if text.strip():
            return f"{close_open_fence(text).rstrip()}\n\n⏳ {self._notice}"
        return f"⏳ {self._notice}"

    def _visible(self) -> None:
        if self.first_visible_at is None:
            self.first_visible_at = time.monotonic()
        self._stop_typing()

    def _stop_typing(self) -> None:
        if self._typing is not None:
            self._typing.stop()

    async def _safely(self, delivery: Awaitable[None]) -> None:
        try:
            await delivery
        except TelegramError as exc:
            log.error("could not deliver an answer to chat %s: %s", self._chat_id, describe(exc))
