"""Account-wide RPM, TPM and concurrency per model, with the wait the real 429 message quotes.

TPM counts the reservation (prompt estimate + max_tokens), as the real service does; its 429
names no wait, only "current:X, limit:Y". Only admitted requests count, so waiting the quoted
number of seconds of an RPM 429 really is enough.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from emulators.moonshot import errors

WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request was refused: the limit text for the message and the honest wait (None
    where Moonshot's message names none: TPM)."""

    what: str
    wait_seconds: int | None


@dataclass(slots=True)
class _ModelUsage:
    starts: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    in_flight: int = 0


class RateLimiter:
    """Sliding 60 s windows for RPM/TPM and a counter of requests in progress, per model."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._models: dict[str, _ModelUsage] = {}

    def reset(self) -> None:
        """Forget windows but keep in-flight counts: streams still running will release them."""
        for usage in self._models.values():
            usage.starts.clear()
            usage.tokens.clear()

    def in_flight(self) -> dict[str, int]:
        return {model: u.in_flight for model, u in self._models.items() if u.in_flight}

    def acquire(
        self, model: str, rpm: int, tpm: int, concurrency: int, tokens: int
    ) -> Rejection | None:
        """Admit the request (and take a concurrency slot) or say which limit it hit."""
        now = self._clock()
        usage = self._models.setdefault(model, _ModelUsage())
        self._expire(usage, now)
        if usage.in_flight >= concurrency:
            return Rejection(f"max concurrency: {concurrency}", 1)
        if len(usage.starts) >= rpm:
            return Rejection(f"max RPM: {rpm}", _wait(usage.starts[0], now))
        used = sum(t for _, t in usage.tokens)
        if used + tokens > tpm:
            return Rejection(errors.token_limit_what("TPM", used + tokens, tpm), None)
        usage.starts.append(now)
        usage.tokens.append((now, tokens))
        usage.in_flight += 1
        return None

    def release(self, model: str) -> None:
        usage = self._models.get(model)
        if usage is not None and usage.in_flight > 0:
            usage.in_flight -= 1

    @staticmethod
    def _expire(usage: _ModelUsage, now: float) -> None:
        while usage.starts and usage.starts[0] <= now - WINDOW_SECONDS:
            usage.starts.popleft()
        while usage.tokens and usage.tokens[0][0] <= now - WINDOW_SECONDS:
            usage.tokens.popleft()


def _wait(started: float, now: float) -> int:
    """Whole seconds until an entry started at ``started`` leaves the window (at least 1)."""
    return max(1, math.ceil(started + WINDOW_SECONDS - now))
