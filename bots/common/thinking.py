"""The "thinking… 12 s" status platforms show while a thinking model reasons.

Chat platforms show how long the model has been thinking, not what it thinks: the reasoning is
long, unpolished and not the answer. The clock only says when the shown seconds change, at the
platform's own step, so a status edit costs at most one call per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core import texts


class ThinkingClock:
    def __init__(
        self, lang: str, *, step: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lang = lang
        self._step = step
        self._clock = clock
        self._started: float | None = None
        self._shown: int | None = None

    def hidden(self) -> None:
        """Another status replaced this one: the next tick shows it again."""
        self._shown = None

    def tick(self) -> str | None:
        """The status to show now, or None if the one shown is still right."""
        now = self._clock()
        if self._started is None:
            self._started = now
        steps = int((now - self._started) // self._step)
        if steps == self._shown:
            return None
        self._shown = steps
        return texts.text("thinking_status", self._lang, seconds=int(steps * self._step))
