"""The limiter's refusal, and what users see while waiting or when refused (from core.phrases)."""

from __future__ import annotations

import math

from core import errors, texts

ACCOUNT = "account"
USER = "user"


def format_duration(seconds: float, lang: str = "en") -> str:
    """``45 s`` / ``3 min`` / ``2 h 5 min`` (whole units, rounded up so a retry is never early)."""
    total = max(1, math.ceil(seconds))
    if total < 90:
        return texts.text("duration_seconds", lang, seconds=total)
    minutes = math.ceil(total / 60)
    if minutes < 120:
        return texts.text("duration_minutes", lang, minutes=minutes)
    return texts.text("duration_hours", lang, hours=minutes // 60, minutes=minutes % 60)


def wait_notice(seconds: float, lang: str = "en") -> str:
    """What the chat shows once when a turn has to queue for a limit."""
    return texts.text("limit_queued", lang, wait=format_duration(seconds, lang))


class LimitExceeded(errors.KimiError):
    """A turn that could not be admitted within ``LIMIT_MAX_WAIT``; nothing was sent to Moonshot.

    ``scope`` is ``"account"`` (the bot's shared Moonshot limit for the model) or ``"user"`` (this
    user's own share); ``limit`` is ``rpm``, ``tpm``, ``concurrency`` or ``cooldown`` (a 429 from
    Moonshot made us pause). ``retry_after_seconds`` is our best estimate of when a retry will
    be admitted.
    """

    kind = "limit"
    retryable = False

    def __init__(
        self,
        retry_after_seconds: float,
        scope: str = ACCOUNT,
        *,
        limit: str = "rpm",
        model: str = "",
    ) -> None:
        self.retry_after_seconds = max(1.0, float(retry_after_seconds))
        self.scope = scope
        self.limit = limit
        self.model = model
        super().__init__(
            f"{scope} {limit} limit of {model or 'the model'}: "
            f"retry after {self.retry_after_seconds:.0f}s",
            status=None,
        )
        self.user_message = self.localized("en")

    def localized(self, lang: str = "en") -> str:
        name = f"limit_name_{self.limit}"
        what = texts.text(name, lang) if texts.known(name) else self.limit
        when = format_duration(self.retry_after_seconds, lang)
        key = "limit_user" if self.scope == USER else "limit_account"
        return texts.text(key, lang, what=what, when=when)

    message = localized


class DailyLimitExceeded(errors.DailyLimitReached):
    """The limiter's own refusal of a model whose day is spent; nothing was sent to Moonshot.

    Either this request would take the day's total past the catalog's ``tpd`` for the model, or
    Moonshot already answered a TPD 429 for it today. Waiting cannot help (the day turns in
    hours), so it is raised at once, never queued. The chat shows ``kimi_daily_limit`` like
    Moonshot's own TPD refusal, and ``alerts_admins`` (inherited) tells the admins once.
    ``retry_after_seconds`` is the time until the day turns in the catalog's ``day_timezone``.
    """

    scope = ACCOUNT
    limit = "tpd"

    def __init__(self, model: str, retry_after_seconds: float, *, reason: str = "tpd") -> None:
        self.retry_after_seconds = max(1.0, float(retry_after_seconds))
        why = (
            "Moonshot refused it earlier today (TPD 429)"
            if reason == "spent"
            else "the catalog's tokens per day (tpd) would be exceeded"
        )
        super().__init__(
            f"{model}: daily token limit reached, {why}; refused for "
            f"{self.retry_after_seconds:.0f}s until the day turns",
            model=model,
            status=None,
        )
