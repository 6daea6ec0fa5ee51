"""Typed errors of a Kimi call. Adapters turn them into short messages; none carries a secret."""

from __future__ import annotations

from core.phrases import english


class KimiError(Exception):
    """A Moonshot call that did not produce a complete answer.

    ``user_message`` is what the chat sees (in English; ``core.texts.error_text`` gives the
    user's language, from the catalog's ``kimi_<kind>``); ``str(error)`` is the operator's log line.
    """

    retryable: bool = False
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

    def __init__(self, detail: str = "", *, wait_seconds: float = 1.0, status: int | None = 429):
        super().__init__(detail, status=status)
        self.wait_seconds = wait_seconds


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
    kind = "quota"
    user_message = english("kimi_quota")
