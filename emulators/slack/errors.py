"""The one way a Web API handler fails: an ``{"ok": false, "error": ...}`` answer."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by a method handler; the server turns it into Slack's error envelope.

    ``status`` is the HTTP status (200 for ordinary Slack errors, 429 for rate limits),
    ``headers`` extra response headers (``Retry-After``), ``extra`` extra body fields.
    """

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.extra}
