"""Typed errors of a Kimi call. Adapters turn them into short messages; none carries a secret."""

from __future__ import annotations


class KimiError(Exception):
    """A Moonshot call that did not produce a complete answer.

    ``user_message`` is what the chat sees; ``str(error)`` is the operator's log line.
    """

    retryable: bool = False
    kind: str = "error"
    user_message: str = "Kimi could not answer right now. Please try again in a moment."

    def __init__(self, detail: str = "", *, status: int | None = None) -> None:
        super().__init__(detail or self.kind)
        self.detail = detail
        self.status = status


class RateLimited(KimiError):
    kind = "rate_limited"
    retryable = True
    user_message = "Kimi is busy (rate limit reached). Please try again in a minute."

    def __init__(self, detail: str = "", *, wait_seconds: float = 1.0, status: int | None = 429):
        super().__init__(detail, status=status)
        self.wait_seconds = wait_seconds


class Overloaded(KimiError):
    kind = "overloaded"
    retryable = True
    user_message = "Kimi is overloaded right now. Please try again in a minute."


class ServerError(KimiError):
    kind = "server_error"
    retryable = True
    user_message = "Kimi's service had an error. Please try again later."


class StreamInterrupted(KimiError):
    """The connection dropped or stalled before ``[DONE]``."""

    kind = "stream_interrupted"
    retryable = True
    user_message = "The answer was cut off by a network problem. Please ask again."


class ContextTooLong(KimiError):
    kind = "context_too_long"
    user_message = "This conversation is too long for the model. Send `/reset` to start over."


class BadRequest(KimiError):
    kind = "bad_request"
    user_message = "Kimi rejected the request. The operator has been told."


class AuthFailed(KimiError):
    kind = "auth"
    user_message = "The bot's Moonshot API key was rejected. Please tell the bot's operator."


class PermissionDenied(KimiError):
    kind = "permission"
    user_message = "This Moonshot account is not allowed to use that. Please tell the operator."


class ModelNotFound(KimiError):
    kind = "model_not_found"
    user_message = (
        "The selected model does not exist on this account. Try `/model` to pick another."
    )


class ContentFiltered(KimiError):
    kind = "content_filter"
    user_message = "Kimi declined this request because of its content policy."


class QuotaExceeded(KimiError):
    kind = "quota"
    user_message = "The bot's Moonshot balance is used up. Please tell the bot's operator."
