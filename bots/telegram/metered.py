"""The Bot API transport with failed calls counted in ``kimi_platform_api_errors``.

``do_request`` is python-telegram-bot's extension point for transports: it sees every Bot API
call with its URL (``…/bot<token>/<method>``) and HTTP status, before PTB turns error statuses
into exceptions. Only the method name (the last path segment) is kept, never the URL: it
contains the token.
"""

from __future__ import annotations

from typing import Any

from telegram.request import HTTPXRequest

from core import metrics


def api_method(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1] or "unknown"


class MeteredRequest(HTTPXRequest):
    """HTTPXRequest that records error answers (HTTP >= 400) and network failures."""

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        try:
            status, payload = await super().do_request(url, method, *args, **kwargs)
        except Exception:
            metrics.record_platform_error("telegram", api_method(url))
            raise
        if status >= 400:
            metrics.record_platform_error("telegram", api_method(url))
        return status, payload
