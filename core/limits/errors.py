"""The limiter's refusal and the texts users see while waiting or when refused (English/Chinese)."""

from __future__ import annotations

import math

from core import errors

ACCOUNT = "account"
USER = "user"

_LIMIT_NAMES = {
    "en": {
        "rpm": "requests per minute",
        "tpm": "tokens per minute",
        "concurrency": "answers in progress",
        "cooldown": "Moonshot asked us to slow down",
    },
    "zh": {
        "rpm": "每分钟请求数",
        "tpm": "每分钟 token 数",
        "concurrency": "同时进行的回答数",
        "cooldown": "Moonshot 要求降低请求频率",
    },
}


def format_duration(seconds: float, lang: str = "en") -> str:
    """``45 s`` / ``3 min`` / ``2 h 5 min`` (whole units, rounded up so a retry is never early)."""
    total = max(1, math.ceil(seconds))
    if lang == "zh":
        if total < 90:
            return f"{total} 秒"
        minutes = math.ceil(total / 60)
        if minutes < 120:
            return f"{minutes} 分钟"
        return f"{minutes // 60} 小时 {minutes % 60} 分钟"
    if total < 90:
        return f"{total} s"
    minutes = math.ceil(total / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def wait_notice(seconds: float, lang: str = "en") -> str:
    """What the chat shows once when a turn has to queue for a limit."""
    if lang == "zh":
        return f"请求较多，正在排队，预计等待约 {format_duration(seconds, 'zh')}…"
    return (
        f"Busy right now: your question is queued, expected wait about {format_duration(seconds)}…"
    )


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
        names = _LIMIT_NAMES["zh" if lang == "zh" else "en"]
        what = names.get(self.limit, self.limit)
        when = format_duration(self.retry_after_seconds, lang)
        if lang == "zh":
            if self.scope == USER:
                return f"你的请求太频繁了（{what}已达上限）。请在 {when} 后重试。"
            return f"Kimi 当前请求太多（机器人的{what}已达上限）。请在 {when} 后重试。"
        if self.scope == USER:
            return f"You are sending requests too fast ({what} limit reached). Please try again in {when}."
        return f"Kimi is at the bot's limit right now ({what}). Please try again in {when}."

    message = localized
