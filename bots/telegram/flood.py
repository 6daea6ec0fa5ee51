"""Our side of Telegram's flood control: wait before a call instead of collecting 429s.

Telegram answers 429 with ``retry_after`` when a bot sends or edits too fast (about one message
per second per chat, 20 per minute in a group, 30 per second overall) and punishes calls made
before ``retry_after`` has passed. The stream pacer's interval is a preference; this guard is
the floor every send, edit and draft goes through, shared by all answers of the adapter, so
two answers streaming into one group still stay inside the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MESSAGE = "message"
DRAFT = "draft"


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
                return True
            if give_up is None:
                await asyncio.sleep(wait)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(give_up.wait(), wait)


def _expire(stamps: deque[float], horizon: float) -> None:
    while stamps and stamps[0] <= horizon:
        stamps.popleft()
