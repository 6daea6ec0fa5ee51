"""Typed errors of a Kimi call. Adapters turn them into short messages; none carries a secret."""

from __future__ import annotations

from core.phrases import english


class KimiError(Exception):
    """A Moonshot call that did not produce a complete answer.

    ``user_message`` is what the chat sees (in English; ``core.texts.error_text`` gives the
    user's language, from the catalog's ``kimi_<kind>``); ``str(error)`` is the operator's log line.
    """

    retryable: bool = False
    # The account (not this request) is stuck: the bot's ADMINS are told once (core.admin_alerts).
    alerts_admins: bool = False
    kind: str = "error"
    user_message: str = english("kimi_error")

    def __init__(self, detail: str = "", *, status: int | None = None) -> None:
        super().__init__(detail or self.kind)
        self.detail = detail
        self.status = status


class RateLimited(KimiError):
    kind = "rate_limited"
    retryable = True
    user_message = english("kimi_rate_limited")

    def __init__(
        self,
        detail: str = "",
        *,
        wait_seconds: float = 1.0,
        status: int | None = 429,
        wait_given: bool = True,
    ):
        super().__init__(detail, status=status)
        self.wait_seconds = wait_seconds
        # False for Moonshot's TPM wording, which names no wait: ``wait_seconds`` is then a
        # placeholder that a caller with its own window estimate (the limiter) should replace.
        self.wait_given = wait_given


class Overloaded(KimiError):
    kind = "overloaded"
    retryable = True
    user_message = english("kimi_overloaded")


class ServerError(KimiError):
    kind = "server_error"
    retryable = True
    user_message = english("kimi_server_error")


class StreamInterrupted(KimiError):
    """The connection dropped or stalled before ``[DONE]``."""

    kind = "stream_interrupted"
    retryable = True
    user_message = english("kimi_stream_interrupted")


class ContextTooLong(KimiError):
    kind = "context_too_long"
    user_message = english("kimi_context_too_long")


class BadRequest(KimiError):
    kind = "bad_request"
    user_message = english("kimi_bad_request")


class AuthFailed(KimiError):
    kind = "auth"
    user_message = english("kimi_auth")


class PermissionDenied(KimiError):
    kind = "permission"
    user_message = english("kimi_permission")


class ModelNotFound(KimiError):
    kind = "model_not_found"
    user_message = english("kimi_model_not_found")


class ContentFiltered(KimiError):
    kind = "content_filter"
    user_message = english("kimi_content_filter")


class QuotaExceeded(KimiError):
    """429 exceeded_current_quota_error: the balance is exhausted (or the account suspended)."""

    kind = "quota"
    alerts_admins = True
    user_message = english("kimi_quota")


class DailyLimitReached(KimiError):
    """The account's tokens per day (TPD) for a model are spent; nothing helps until the day
    turns, so it is not retried. ``model`` is the model whose day is spent."""

    kind = "daily_limit"
    alerts_admins = True
    user_message = english("kimi_daily_limit")

    def __init__(self, detail: str = "", *, model: str = "", status: int | None = 429) -> None:
        super().__init__(detail, status=status)
        self.model = model
