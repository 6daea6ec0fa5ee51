"""Error responses shaped exactly like Moonshot's: ``{"error": {"type", "message"}}``, no Retry-After."""

from __future__ import annotations

from aiohttp import web

ORG = "org-emulator"
AK = "ak-emulator"


def error_response(status: int, error_type: str, message: str) -> web.Response:
    """A JSON error body; 429s deliberately carry no Retry-After header (the real API sends none)."""
    return web.json_response({"error": {"type": error_type, "message": message}}, status=status)


def invalid_request(message: str) -> web.Response:
    return error_response(400, "invalid_request_error", f"Invalid request: {message}")


def not_found(message: str) -> web.Response:
    return error_response(404, "resource_not_found_error", message)


def auth_error() -> web.Response:
    return error_response(401, "invalid_authentication_error", "Invalid Authentication")


def rate_limit_message(what: str, wait_seconds: int | None) -> str:
    """The real message text; clients parse 'please try again after N seconds' from it. The TPM
    and TPD messages name no wait (``wait_seconds`` None): "... current:X, limit:Y"."""
    message = f"Your account {ORG}<{AK}> request reached organization {what}"
    if wait_seconds is None:
        return message
    return f"{message}, please try again after {wait_seconds} seconds"


def rate_limited(what: str, wait_seconds: int | None) -> web.Response:
    return error_response(429, "rate_limit_reached_error", rate_limit_message(what, wait_seconds))


def token_limit_what(dimension: str, current: int, limit: int) -> str:
    """The 'what' of a TPM or TPD 429, in Moonshot's documented wording."""
    return f"{dimension} rate limit, current:{current}, limit:{limit}"


def overloaded() -> web.Response:
    return error_response(
        429,
        "engine_overloaded_error",
        "The engine is currently overloaded, please try again later",
    )


def quota_exceeded() -> web.Response:
    return error_response(
        429,
        "exceeded_current_quota_error",
        f"Your account {ORG}<{AK}> is suspended, please check your plan and billing details",
    )


def insufficient_balance() -> web.Response:
    """What an account whose balance ran out gets (the live wording, not the suspended one)."""
    return error_response(
        429,
        "exceeded_current_quota_error",
        f"Your account {ORG}<{AK}> is suspended due to insufficient balance, please recharge "
        "your account or check your plan and billing details",
    )


def server_error(message: str = "Server error, please retry later") -> web.Response:
    return error_response(500, "server_error", message)


def content_filter() -> web.Response:
    return error_response(
        400,
        "content_filter",
        "The request was rejected because it was considered high risk",
    )


def gateway_timeout() -> web.Response:
    """What the gateway answers after the 5-minute server timeout: HTML, not the JSON error shape."""
    body = (
        "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
        "<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return web.Response(status=504, text=body, content_type="text/html")
