"""Our side of Telegram's flood control: wait before a call instead of collecting 429s.

Telegram answers 429 with ``retry_after`` when a bot sends or edits too fast (about one message
per second per chat, 20 per minute in a group, 30 per second overall) and punishes calls made
before ``retry_after`` has passed. The stream pacer's interval is a preference; this guard is
the floor every send, edit and draft goes through, shared by all answers of the adapter, so
two answers streaming into one group still stay inside the limits.

:class:`FloodRateLimiter` plugs the guard into python-telegram-bot's ``BaseRateLimiter`` hook,
so every Bot API call is paced, not only an answer's: notices, the typing indicator, the
command menu. An answer's writer still takes its slot itself first (it needs the headroom and
the "give up" a preview has, which the hook cannot express); the hook then lets that one call
through instead of waiting for a second slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import time
import warnings
from collections import deque
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

MESSAGE = "message"  # sends and edits: what Telegram's per-chat, group and global limits count
DRAFT = "draft"  # sendMessageDraft, limited apart
ACTION = "action"  # sendChatAction ("typing…"): paced by its own refresh; waits out 429s
OTHER = "other"  # every other call: only waits out a 429 Telegram gave such a call here
BOT = 0  # the guard's key for calls about no chat (Telegram chat ids are never 0)

# The slot (chat, kind) the current task took through acquire() for the call it makes next.
_slot_taken: ContextVar[tuple[int, str] | None] = ContextVar("flood_slot_taken", default=None)


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """Telegram's published numbers, with a small margin for network jitter."""

    chat_spacing: float = 1.0
    draft_spacing: float = 0.3
    group_limit: int = 20
    group_window: float = 61.0
    global_limit: int = 30
    global_window: float = 1.05


@dataclass(slots=True)
class _Chat:
    last: dict[str, float] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)
    window: deque[float] = field(default_factory=deque)


class FloodGuard:
    def __init__(
        self, limits: FloodLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or FloodLimits()
        self._clock = clock
        self._chats: dict[int, _Chat] = {}
        self._global: deque[float] = deque()

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if len(self._chats) > 10_000:
                self._forget_idle()
            chat = self._chats[chat_id] = _Chat()
        return chat

    def _forget_idle(self) -> None:
        now = self._clock()
        horizon = now - self.limits.group_window
        for chat_id, state in list(self._chats.items()):
            recent = max([*state.last.values(), *state.window, 0.0])
            if recent < horizon and all(t < now for t in state.not_before.values()):
                del self._chats[chat_id]

    def delay(self, chat_id: int, *, group: bool, kind: str = MESSAGE, headroom: int = 0) -> float:
        """Seconds until a call of ``kind`` to this chat is allowed (0: now).

        ``headroom`` keeps that many of the group's per-minute calls free (previews leave room
        for the final answer).
        """
        now = self._clock()
        limits = self.limits
        chat = self._chat(chat_id)
        waits = [chat.not_before.get(kind, 0.0) - now]
        spacing = limits.draft_spacing if kind == DRAFT else limits.chat_spacing
        if kind in chat.last:
            waits.append(chat.last[kind] + spacing - now)
        if kind == MESSAGE:
            if group:
                _expire(chat.window, now - limits.group_window)
                used = len(chat.window)
                if used and used + headroom >= limits.group_limit:
                    # the oldest calls that must expire before one more fits
                    index = min(used - 1, max(0, used + headroom - limits.group_limit))
                    waits.append(chat.window[index] + limits.group_window - now)
            _expire(self._global, now - limits.global_window)
            if len(self._global) >= limits.global_limit:
                waits.append(self._global[0] + limits.global_window - now)
        return max(0.0, *waits)

    def take(self, chat_id: int, *, group: bool, kind: str = MESSAGE) -> None:
        """Record a call made now."""
        now = self._clock()
        chat = self._chat(chat_id)
        chat.last[kind] = now
        if kind == MESSAGE:
            if group:
                chat.window.append(now)
            self._global.append(now)

    def penalize(self, chat_id: int, seconds: float, kind: str = MESSAGE) -> None:
        """Telegram said ``retry_after``: nothing of ``kind`` to this chat before it passes."""
        chat = self._chat(chat_id)
        until = self._clock() + seconds
        chat.not_before[kind] = max(chat.not_before.get(kind, 0.0), until)

    async def acquire(
        self,
        chat_id: int,
        *,
        group: bool,
        kind: str = MESSAGE,
        headroom: int = 0,
        give_up: asyncio.Event | None = None,
    ) -> bool:
        """Wait for a slot and take it; False if ``give_up`` was set first (nothing taken)."""
        while True:
            if give_up is not None and give_up.is_set():
                return False
            wait = self.delay(chat_id, group=group, kind=kind, headroom=headroom)
            if wait <= 0:
                self.take(chat_id, group=group, kind=kind)
                _slot_taken.set((chat_id, kind))
                return True
            if give_up is None:
                await asyncio.sleep(wait)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(give_up.wait(), wait)

    async def wait_out(self, chat_id: int, kind: str) -> None:
        """Wait until ``retry_after`` for ``kind`` here has passed, taking no slot."""
        for _ in range(3):  # a new 429 may come in while waiting: wait that out too
            wait = self.delay(chat_id, group=False, kind=kind)
            if wait <= 0:
                return
            await asyncio.sleep(wait)


class FloodRateLimiter(BaseRateLimiter[None]):
    """Every Bot API call (``getUpdates`` excepted, by PTB) through one :class:`FloodGuard`.

    Sends and edits take a message slot in their chat (a group is a negative chat id), drafts
    their own; chat actions and other calls wait out a ``retry_after`` Telegram gave such a
    call in that chat (or, for calls about no chat, to the bot). A 429 is recorded and raised
    again, never retried here: the caller decides (an answer's final message retries, a
    preview is skipped).
    """

    def __init__(self, guard: FloodGuard) -> None:
        self.guard = guard

    async def initialize(self) -> None:
        """Nothing to set up: the guard is plain in-memory state."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        del rate_limit_args  # nothing passes any: the writer takes its slot itself
        chat_id, kind = _chat_of(data), kind_of(endpoint)
        if chat_id is None:
            chat_id = BOT
        if kind in (ACTION, OTHER):
            await self.guard.wait_out(chat_id, kind)
        elif _slot_taken.get() == (chat_id, kind):
            _slot_taken.set(None)  # the writer took this call's slot already
        else:
            await self.guard.acquire(chat_id, group=chat_id < 0, kind=kind)
            _slot_taken.set(None)
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            self.guard.penalize(chat_id, _seconds(exc), kind)
            raise


def kind_of(endpoint: str) -> str:
    """Which of Telegram's limits a Bot API method counts against."""
    if endpoint == "sendMessageDraft":
        return DRAFT
    if endpoint == "sendChatAction":
        return ACTION
    if endpoint.startswith(("send", "edit", "copyMessage", "forwardMessage")):
        return MESSAGE
    return OTHER


def _chat_of(data: dict[str, Any]) -> int | None:
    """The numeric chat a call is about (an ``@channel`` name counts as none)."""
    try:
        return int(data["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _seconds(error: RetryAfter) -> float:
    """``retry_after`` is an int or a timedelta depending on PTB settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def _expire(stamps: deque[float], horizon: float) -> None:
    while stamps and stamps[0] <= horizon:
        stamps.popleft()
