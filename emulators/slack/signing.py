"""Slack request signing (v0): what every HTTP event and slash command carries."""

from __future__ import annotations

import hashlib
import hmac
import time


def signature(signing_secret: str, timestamp: str, body: bytes | str) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``, exactly as Slack computes it."""
    raw = body.decode() if isinstance(body, bytes) else body
    base = f"v0:{timestamp}:{raw}".encode()
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    signing_secret: str,
    body: bytes | str,
    *,
    timestamp: str | int | None = None,
    override_signature: str | None = None,
) -> dict[str, str]:
    """The two headers a receiver verifies; a fixed timestamp/signature lets tests forge bad ones."""
    ts = str(int(time.time())) if timestamp is None else str(timestamp)
    sig = (
        override_signature
        if override_signature is not None
        else signature(signing_secret, ts, body)
    )
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
