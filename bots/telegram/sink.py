"""The ReplySink for Telegram: one answer streamed into one chat.

Private chats preview with ``sendMessageDraft`` (an animated ephemeral draft) and finish with a
real message; where drafts are refused, and in groups, the preview is a message edited in
place. Previews go through :class:`StreamPacer` (time-paced, never blocking the model stream)
and the adapter's flood guard. Long answers are split before formatting: while streaming, a
full part freezes in its own message and the preview moves on to a new one; at the end the
final text replaces the previews part by part and any extra parts follow in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from telegram.error import RetryAfter, TelegramError

from bots.common.pacing import StreamPacer
from bots.telegram.chat_action import TypingIndicator
from bots.telegram.delivery import (
    Body,
    DraftsRefused,
    MessageGone,
    MessageWriter,
    describe,
    retry_seconds,
)
from bots.telegram.formatting import close_open_fence, split_for_telegram
from core import texts

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Shown:
    """A message of this answer and what it currently shows (``Body.look``)."""

    message_id: int
    look: str


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
        self._writer = writer
        self._drafts = use_drafts
        self._lang = lang
        self._typing = typing
        self._on_drafts_refused = on_drafts_refused
        self._pacer = StreamPacer(self._preview, interval)
        self._closing = asyncio.Event()
        self._lock = asyncio.Lock()
        self._shown: list[_Shown] = []
        self._draft_id = secrets.randbelow(2**31 - 2) + 1
        self._last_draft = ""
        self._notice = ""
        self._notice_task: asyncio.Task[None] | None = None
        self._finished = False
        # Timestamps (time.monotonic) for metrics and benchmarks.
        self.first_delta_at: float | None = None
        self.first_visible_at: float | None = None
        self.message_ids: list[int] = []

    @property
    def api_calls(self) -> int:
        """Bot API calls this answer made (drafts, sends, edits; not the typing indicator)."""
        return self._writer.calls

    # -- ReplySink ------------------------------------------------------------------------
    async def begin(self) -> None:
        """Nothing to show yet: the typing indicator covers the wait for the first token."""

    async def append(self, delta: str) -> None:
        if self.first_delta_at is None:
            self.first_delta_at = time.monotonic()
        self._notice = ""
        self._pacer.append(delta)

    async def notice(self, text: str) -> None:
        """A status line (e.g. "retrying in 5s") under the text so far, until new text arrives."""
        if self._closing.is_set():
            return
        self._notice = text
        if self._notice_task is None or self._notice_task.done():
            self._notice_task = asyncio.create_task(self._show_notice())

    async def complete(self, text: str) -> None:
        await self._finish(text)

    async def abort(self, partial_text: str, reason: str) -> None:
        """Keep what was said and say visibly why it stopped."""
        if partial_text.strip():
            note = texts.text("incomplete", self._lang, reason=reason)
            await self._finish(f"{close_open_fence(partial_text).rstrip()}\n\n*{note}*")
        else:
            await self._finish(reason)

    async def reply(self, text: str) -> None:
        """A standalone plain-text message (commands, refusals); previews are left as they are."""
        await self._stop_streaming()
        if not text.strip():
            return
        async with self._lock:
            await self._deliver_safely(split_for_telegram(text), markdown=False, fresh=True)

    # -- previews ---------------------------------------------------------------------------
    def _compose(self, text: str) -> str:
        if not self._notice:
            return text
        if text.strip():
            return f"{close_open_fence(text).rstrip()}\n\n⏳ {self._notice}"
        return f"⏳ {self._notice}"

    async def _show_notice(self) -> None:
        try:
            await self._preview(self._pacer.text)
        except TelegramError as exc:
            log.info("could not show a notice: %s", describe(exc))

    async def _preview(self, snapshot: str) -> None:
        async with self._lock:
            if self._closing.is_set():
                return
            text = self._compose(snapshot)
            if not text.strip():
                return
            parts = split_for_telegram(text)
            try:
                if self._drafts and await self._preview_draft(parts[-1]):
                    return
                await self._preview_messages(parts)
            except RetryAfter as exc:
                self._pacer.pause(retry_seconds(exc))
                raise

    async def _preview_draft(self, part: str) -> bool:
        """True when the draft path handled this preview (shown or skipped)."""
        body = Body(part)
        if body.look == self._last_draft:
            return True
        try:
            if await self._writer.draft(self._draft_id, body, give_up=self._closing):
                self._last_draft = body.look
                self._visible()
            return True
        except DraftsRefused as exc:
            log.info(
                "drafts refused in chat %s (%s); editing a message instead",
                self._writer.target.chat_id,
                exc,
            )
            self._drafts = False
            if self._on_drafts_refused is not None:
                self._on_drafts_refused(exc.everywhere)
            return False

    async def _preview_messages(self, parts: list[str]) -> None:
        for index, part in enumerate(parts):
            body = Body(part)
            if index < len(self._shown):
                entry = self._shown[index]
                if entry.look == body.look:
                    continue
                try:
                    edited = await self._writer.edit(
                        entry.message_id, body, final=False, give_up=self._closing
                    )
                except MessageGone:
                    del self._shown[index:]
                    return
                if not edited:
                    return
                entry.look = body.look
            else:
                message_id = await self._writer.send(
                    body, final=False, reply=not self._shown, give_up=self._closing
                )
                if message_id is None:
                    return
                self._shown.append(_Shown(message_id, body.look))
            self._visible()

    def _visible(self) -> None:
        if self.first_visible_at is None:
            self.first_visible_at = time.monotonic()
        if self._typing is not None:
            self._typing.stop()

    # -- the final text ---------------------------------------------------------------------
    async def _stop_streaming(self) -> None:
        self._closing.set()
        if self._typing is not None:
            self._typing.stop()
        if self._notice_task is not None and not self._notice_task.done():
            self._notice_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._notice_task
        await self._pacer.finish()

    async def _finish(self, text: str) -> None:
        if self._finished:
            log.warning("answer finished twice in chat %s; ignoring", self._writer.target.chat_id)
            return
        self._finished = True
        await self._stop_streaming()
        parts = split_for_telegram(text) if text.strip() else ["…"]
        async with self._lock:
            await self._deliver_safely(parts, markdown=True, fresh=False)

    async def _deliver_safely(self, parts: list[str], *, markdown: bool, fresh: bool) -> None:
        try:
            await self._deliver(parts, markdown=markdown, fresh=fresh)
        except TelegramError as exc:
            log.error(
                "could not deliver an answer to chat %s: %s",
                self._writer.target.chat_id,
                describe(exc),
            )

    async def _deliver(self, parts: list[str], *, markdown: bool, fresh: bool) -> None:
        """Final parts in order: replace the preview messages, then send the rest."""
        shown = [] if fresh else self._shown
        for index, part in enumerate(parts):
            body = Body(part, markdown)
            if index < len(shown):
                entry = shown[index]
                if entry.look != body.look:
                    try:
                        await self._writer.edit(entry.message_id, body, final=True)
                    except MessageGone:
                        entry.message_id = await self._send_final(body, reply=index == 0)
                    entry.look = body.look
                self.message_ids.append(entry.message_id)
                continue
            message_id = await self._send_final(body, reply=index == 0 and not shown)
            self.message_ids.append(message_id)
            if not fresh:
                shown.append(_Shown(message_id, body.look))
        self._visible()
        for extra in shown[len(parts) :]:
            await self._writer.delete(extra.message_id)
        if not fresh:
            del shown[len(parts) :]

    async def _send_final(self, body: Body, *, reply: bool) -> int:
        message_id = await self._writer.send(body, final=True, reply=reply)
        if message_id is None:  # final sends never give up; keep the type checker honest
            raise TelegramError("final message was not sent")
        return message_id
