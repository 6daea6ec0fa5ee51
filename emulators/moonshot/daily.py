"""Tokens per day (TPD) per model: prompt + completion of answered requests, per calendar day in
the catalog's ``day_timezone`` (Moonshot counts days in Beijing time)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from emulators.moonshot import errors


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DailyTokens:
    """Tokens answered today, per model; a new day starts from zero."""

    def __init__(self, timezone: str, clock: Callable[[], datetime] = _utc_now) -> None:
        self._zone = ZoneInfo(timezone)
        self.clock = clock  # tests move it to another day
        self._used: dict[str, tuple[date, int]] = {}

    def today(self) -> date:
        return self.clock().astimezone(self._zone).date()

    def used(self, model: str) -> int:
        day, tokens = self._used.get(model, (None, 0))
        return tokens if day == self.today() else 0

    def add(self, model: str, tokens: int) -> None:
        self._used[model] = (self.today(), self.used(model) + max(tokens, 0))

    def check(self, model: str, tpd: int | None, prompt_tokens: int) -> str | None:
        """The 429 'what' if this request's prompt would take the day past ``tpd``."""
        if tpd is None:
            return None
        current = self.used(model) + prompt_tokens
        return errors.token_limit_what("TPD", current, tpd) if current > tpd else None

    def reset(self) -> None:
        self._used.clear()
