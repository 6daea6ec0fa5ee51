"""Sending, editing and drafting one part of an answer, with Telegram's failure modes handled.

Previews are best effort: one attempt, skipped while flood control says wait. Final messages
must land: they wait for the flood guard, honour ``retry_after`` exactly, retry network errors
with backoff (bounded), fall back to plain text when Telegram cannot parse our HTML, and send
a new message when the one to edit is gone. An edit that would not change the text is never
sent, and Telegram's "message is not modified" counts as success.

:class:`MessageWriter` makes the calls; :class:`TelegramPart` is one message of an answer for
``bots.common.parts``: previewed as a draft (private chats) or an edited message, finished as a
real message.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import secrets
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from telegram import Bot, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bots.common.answer import RetryLater
from bots.telegram.flood import DRAFT, MESSAGE, FloodGuard
from bots.telegram.formatting import markdown_to_html

log = logging.getLogger(__name__)

T = TypeVar("T")

PREVIEW_HEADROOM = 3  # group calls per minute kept free for final messages
NETWORK_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
MAX_FLOOD_RETRIES = 20
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class DraftsRefused(Exception):
    """Telegram refused ``sendMessageDraft`` here; ``everywhere`` when the server lacks it."""

    def __init__(self, detail: str, *, everywhere: bool = False) -> None:
        super().__init__(detail)
        self.everywhere = everywhere


class MessageGone(Exception):
    """The message to edit no longer exists (deleted by a user or an admin)."""


def retry_seconds(error: RetryAfter) -> float:
    """``RetryAfter.retry_after`` is an int or a timedelta depending on PTB settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def describe(error: BaseException) -> str:
    """A log-safe one-liner: PTB's messages never contain the request URL (and so the token)."""
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True, slots=True)
class ChatTarget:
    """Where the answer goes: the chat, its forum topic, and the message it answers."""

    chat_id: int
    thread_id: int | None = None
    is_group: bool = False
    reply_to: int | None = None


@dataclass(frozen=True, slots=True)
class Body:
    """One part of an answer: Markdown rendered as HTML, or sent as plain text."""

    text: str
    markdown: bool = True

    def render(self, plain: bool) -> tuple[str, str | None]:
        if self.markdown and not plain:
            return markdown_to_html(self.text), ParseMode.HTML
        return self.text, None

    @property
    def look(self) -> str:
        """What the message would show (Telegram trims): equal looks mean an edit is pointless."""
        text, mode = self.render(plain=False)
        return f"{mode}:{text.strip()}"


class MessageWriter:
    """The Bot API calls of one answer in one chat, each passed through the flood guard."""

    def __init__(self, bot: Bot, guard: FloodGuard, target: ChatTarget) -> None:
        self.bot = bot
        self.guard = guard
        self.target = target
        self.sent: list[int] = []  # ids of the messages sent (an answer's parts, for feedback)

    # -- public operations --------------------------------------------------------------
    async def draft(self, draft_id: int, body: Body, *, give_up: asyncio.Event) -> bool:
        """Show a draft preview; False when skipped. Raises RetryAfter or DraftsRefused."""
        target = self.target
        if not await self.guard.acquire(target.chat_id, group=False, kind=DRAFT, give_up=give_up):
            return False
        text, mode = body.render(plain=False)
        try:
            await self.bot.send_message_draft(
                target.chat_id,
                draft_id,
                text,
                message_thread_id=target.thread_id,
                parse_mode=mode,
            )
        except RetryAfter as exc:
            self.guard.penalize(target.chat_id, retry_seconds(exc), DRAFT)
            raise
        except (InvalidToken, EndPointNotFound) as exc:
            raise DraftsRefused(describe(exc), everywhere=True) from exc
        except (BadRequest, Forbidden) as exc:
            raise DraftsRefused(describe(exc)) from exc
        return True

    async def send(
        self,
        body: Body,
        *,
        final: bool,
        reply: bool = False,
        give_up: asyncio.Event | None = None,
    ) -> int | None:
        """Send a new message; its id, or None when a preview was skipped."""
        target = self.target
        reply_parameters = (
            ReplyParameters(message_id=target.reply_to, allow_sending_without_reply=True)
            if reply and target.reply_to is not None
            else None
        )

        async def call(plain: bool) -> int:
            text, mode = body.render(plain)
            message = await self.bot.send_message(
                target.chat_id,
                text,
                parse_mode=mode,
                message_thread_id=target.thread_id,
                reply_parameters=reply_parameters,
                link_preview_options=_NO_PREVIEW,
            )
            return message.message_id

        message_id = await self._run(call, final=final, give_up=give_up)
        if message_id is not None:
            self.sent.append(message_id)
        return message_id

    async def edit(
        self,
        message_id: int,
        body: Body,
        *,
        final: bool,
        give_up: asyncio.Event | None = None,
    ) -> bool:
        """Replace a message's text; False when a preview was skipped. Raises MessageGone."""
        target = self.target

        async def call(plain: bool) -> bool:
            text, mode = body.render(plain)
            try:
                await self.bot.edit_message_text(
                    text,
                    chat_id=target.chat_id,
                    message_id=message_id,
                    parse_mode=mode,
                    link_preview_options=_NO_PREVIEW,
                )
            except BadRequest as exc:
                detail = exc.message.lower()
                if "not modified" in detail:
                    return True
                if "message to edit not found" in detail or "can't be edited" in detail:
                    raise MessageGone(describe(exc)) from exc
                raise
            return True

        return bool(await self._run(call, final=final, give_up=give_up))

    async def delete(self, message_id: int) -> None:
        """Best effort: a leftover preview message that the final answer no longer needs."""
        try:
            await self.bot.delete_message(self.target.chat_id, message_id)
        except TelegramError as exc:
            log.info("could not delete preview message: %s", describe(exc))

    # -- the retry policy -----------------------------------------------------------------
    async def _run(
        self,
        call: Callable[[bool], Awaitable[T]],
        *,
        final: bool,
        give_up: asyncio.Event | None,
    ) -> T | None:
        target = self.target
        plain = False
        network_failures = 0
        flood_retries = 0
        while True:
            acquired = await self.guard.acquire(
                target.chat_id,
                group=target.is_group,
                kind=MESSAGE,
                headroom=0 if final else PREVIEW_HEADROOM,
                give_up=None if final else give_up,
            )
            if not acquired:
                return None
            try:
                return await call(plain)
            except RetryAfter as exc:
                seconds = retry_seconds(exc)
                self.guard.penalize(target.chat_id, seconds)
                flood_retries += 1
                if not final or flood_retries > MAX_FLOOD_RETRIES:
                    raise
                log.warning(
                    "flood control in chat %s: retrying the answer in %.0fs",
                    target.chat_id,
                    seconds,
                )
            except BadRequest as exc:
                detail = exc.message.lower()
                if plain or not _format_problem(detail):
                    raise
                log.warning("Telegram refused our formatting (%s); sending plain text", exc.message)
                plain = True
            except (Forbidden, ChatMigrated, InvalidToken):
                raise
            except NetworkError as exc:  # includes TimedOut; BadRequest is handled above
                if not final or network_failures >= len(NETWORK_BACKOFF):
                    raise
                delay = NETWORK_BACKOFF[network_failures]
                network_failures += 1
                log.warning(
                    "network error sending to Telegram (%s); retry in %.1fs", describe(exc), delay
                )
                await asyncio.sleep(delay)


@dataclass(slots=True)
class Previews:
    """What the messages of one answer share about previewing it."""

    give_up: asyncio.Event  # set when the answer ends: a preview waiting for a slot is dropped
    drafts: bool  # preview with drafts (private chats) until Telegram refuses them
    decorate: Callable[[str], str] = lambda text: text  # e.g. a notice under the text so far
    on_visible: Callable[[], None] = lambda: None  # something of the answer is on screen
    on_drafts_refused: Callable[[bool], None] = lambda everywhere: None


class TelegramPart:
    """One message of an answer (a ``PartWriter``): a draft or an edited message while it
    grows, then a real message. A draft cannot become a message, so a part previewed as drafts
    is sent when it is finished; a part previewed as a message is edited into its final text.
    Each part has its own draft id: Telegram animates changes within one draft only."""

    def __init__(
        self, writer: MessageWriter, previews: Previews, *, first: bool, markdown: bool = True
    ) -> None:
        self._writer = writer
        self._previews = previews
        self._first = first  # the first message of an answer replies to the user's message
        self._markdown = markdown
        self._draft_id = secrets.randbelow(2**31 - 2) + 1
        self._drafted = ""  # Body.look of the last draft shown
        self._message_id: int | None = None
        self._look = ""  # Body.look of what the message shows

    async def show(self, text: str) -> None:
        text = self._previews.decorate(text)
        if not text.strip():
            return
        body = Body(text)
        try:
            if self._previews.drafts and await self._draft(body):
                return
            await self._preview_message(body)
        except RetryAfter as exc:
            raise RetryLater(retry_seconds(exc)) from exc

    async def finish(self, text: str) -> None:
        body = Body(text, self._markdown)
        if self._message_id is None:
            self._message_id = await self._send_final(body)
        elif self._look != body.look:
            try:
                await self._writer.edit(self._message_id, body, final=True)
            except MessageGone:
                self._message_id = await self._send_final(body)
        self._look = body.look
        self._previews.on_visible()

    async def delete(self) -> None:
        if self._message_id is not None:
            await self._writer.delete(self._message_id)
            self._message_id = None

    async def _draft(self, body: Body) -> bool:
        """True when the draft path handled this preview (shown or skipped)."""
        if body.look == self._drafted:
            return True
        previews = self._previews
        try:
            if await self._writer.draft(self._draft_id, body, give_up=previews.give_up):
                self._drafted = body.look
                previews.on_visible()
            return True
        except DraftsRefused as exc:
            log.info(
                "drafts refused in chat %s (%s); editing a message instead",
                self._writer.target.chat_id,
                exc,
            )
            previews.drafts = False
            previews.on_drafts_refused(exc.everywhere)
            return False

    async def _preview_message(self, body: Body) -> None:
        give_up = self._previews.give_up
        if self._message_id is None:
            message_id = await self._writer.send(
                body, final=False, reply=self._first, give_up=give_up
            )
            if message_id is None:
                return
            self._message_id = message_id
        elif self._look == body.look:
            return
        else:
            try:
                edited = await self._writer.edit(
                    self._message_id, body, final=False, give_up=give_up
                )
            except MessageGone:
                self._message_id = None  # the next preview sends a new one
                return
            if not edited:
                return
        self._look = body.look
        self._previews.on_visible()

    async def _send_final(self, body: Body) -> int:
        message_id = await self._writer.send(body, final=True, reply=self._first)
        if message_id is None:  # final sends never give up; keep the type checker honest
            raise TelegramError("final message was not sent")
        return message_id


def _format_problem(detail: str) -> bool:
    """Errors that plain text avoids: our HTML refused, or the rendered text too long/empty."""
    return any(
        phrase in detail
        for phrase in ("can't parse entities", "too long", "text is empty", "entities")
    )
