"""Flood control: the 429s Telegram gives a bot that sends or edits too fast.

Telegram documents only rough numbers (about 1 message per second per chat, 20 per minute in a
group, 30 per second overall); the limits here are constructor parameters so tests can tighten
them. A 429 also opens a penalty window of ``retry_after`` seconds: calling again inside it is
refused again and recorded, because a bot must honour ``retry_after`` exactly.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ApiError, too_many_requests


@dataclass(frozen=True)
class FloodLimits:
    """Tunable limits; message-like calls are sends and edits, drafts are counted apart."""

    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: int = 20
    global_per_second: int = 30
    draft_interval: float = 0.3
    draft_burst: int = 3


class TokenBucket:
    """Sustained ``rate`` per second with up to ``capacity`` calls in a burst."""

    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = rate
        self.capacity = float(max(capacity, 1))
        self.tokens = self.capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until one call is allowed (0 when allowed now)."""
        self._refill(now)
        if self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0


class SlidingWindow:
    """At most ``limit`` calls in any ``span`` seconds."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self.stamps: deque[float] = deque()

    def wait(self, now: float) -> float:
        while self.stamps and self.stamps[0] <= now - self.span:
            self.stamps.popleft()
        if len(self.stamps) < self.limit:
            return 0.0
        return self.stamps[0] + self.span - now

    def take(self, now: float) -> None:
        self.stamps.append(now)


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait - 1e-9))


class FloodControl:
    """Decides per call whether Telegram would answer 429, and records each violation."""

    def __init__(
        self,
        limits: FloodLimits,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.enabled = enabled
        self.clock = clock
        self.violations: list[str] = []
        self._chat: dict[int, TokenBucket] = {}
        self._group: dict[int, SlidingWindow] = {}
        self._draft: dict[int, TokenBucket] = {}
        self._global = SlidingWindow(limits.global_per_second, 1.0)
        self._penalty: dict[tuple[str, int], float] = {}

    def _refuse(self, key: tuple[str, int], wait: float, why: str) -> ApiError:
        retry_after = _seconds(wait)
        now = self.clock()
        self._penalty[key] = max(self._penalty.get(key, 0.0), now + retry_after)
        self.violations.append(f"{why}; answered 429 retry_after={retry_after}")
        return too_many_requests(retry_after)

    def _check_penalty(self, key: tuple[str, int], method: str, chat_id: int) -> None:
        until = self._penalty.get(key)
        now = self.clock()
        if until is not None and now < until:
            left = until - now
            self.violations.append(
                f"{method} to chat {chat_id} {left:.2f}s before retry_after expired; "
                f"answered 429 retry_after={_seconds(left)}"
            )
            raise too_many_requests(_seconds(left))

    def check_message(self, method: str, chat_id: int, *, group: bool) -> None:
        """Count a send/edit; raise the 429 Telegram would give if it is too fast."""
        if not self.enabled:
            return
        key = ("chat", chat_id)
        self._check_penalty(key, method, chat_id)
        self._check_penalty(("global", 0), method, chat_id)
        now = self.clock()
        limits = self.limits
        bucket = self._chat.get(chat_id)
        if bucket is None:
            bucket = self._chat[chat_id] = TokenBucket(
                limits.chat_per_second, limits.chat_burst, now
            )
        window = None
        if group:
            window = self._group.get(chat_id)
            if window is None:
                window = self._group[chat_id] = SlidingWindow(limits.group_per_minute, 60.0)
        wait = bucket.wait(now)
        if wait > 0:
            raise self._refuse(
                key,
                wait,
                f"{method} to chat {chat_id}: more than {limits.chat_per_second:g}/s "
                f"(burst {limits.chat_burst}) in one chat",
            )
        if window is not None:
            wait = window.wait(now)
            if wait > 0:
                raise self._refuse(
                    key,
                    wait,
                    f"{method} to group {chat_id}: more than {limits.group_per_minute} "
                    "messages/edits per minute",
                )
        wait = self._global.wait(now)
        if wait > 0:
            raise self._refuse(
                ("global", 0),
                wait,
                f"{method}: more than {limits.global_per_second} messages/s over all chats",
            )
        bucket.take(now)
        if window is not None:
            window.take(now)
        self._global.take(now)

    def check_draft(self, chat_id: int) -> None:
        """Count a sendMessageDraft: about one per ``draft_interval`` seconds, small burst."""
        if not self.enabled:
            return
        key = ("draft", chat_id)
        self._check_penalty(key, "sendMessageDraft", chat_id)
        now = self.clock()
        limits = self.limits
        bucket = self._draft.get(chat_id)
        if bucket is None:
            rate = 1.0 / limits.draft_interval if limits.draft_interval > 0 else 1e9
            bucket = self._draft[chat_id] = TokenBucket(rate, limits.draft_burst, now)
        wait = bucket.wait(now)
        if wait > 0:
            raise self._refuse(
                key,
                wait,
                f"sendMessageDraft to chat {chat_id}: drafts faster than one per "
                f"{limits.draft_interval:g}s (burst {limits.draft_burst})",
            )
        bucket.take(now)
