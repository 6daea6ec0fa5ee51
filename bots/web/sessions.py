"""Web chat sessions: a signed cookie naming the browser's conversation, and the optional login.

Why itsdangerous: signing and verifying a cookie is easy to get subtly wrong (timing-safe
comparison, key derivation, encoding); Pallets' small, well-kept library does exactly this.
The signing key is generated once per deployment and kept in the database, so sessions survive
restarts and work on every worker behind a load balancer without another setting.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import deque
from dataclasses import dataclass

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "kimi_session"
MAX_AGE = 365 * 24 * 3600  # a browser keeps its conversation for a year of inactivity


def is_loopback(host: str) -> bool:
    """Whether ``HOST`` only accepts connections from this machine."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class WebSession:
    """One browser: ``id`` names its conversation; ``login`` proves it passed the login."""

    id: str
    login: str = ""


class SessionCookies:
    """Reads and writes the signed session cookie; knows whether a login is required."""

    def __init__(self, signing_key: str, token: str | None) -> None:
        self._serializer = URLSafeTimedSerializer(signing_key, salt="kimi-bot web session")
        self._token = token
        # A fingerprint of WEB_TOKEN: changing the token signs every browser out.
        self._login = (
            hmac.new(signing_key.encode(), token.encode(), hashlib.sha256).hexdigest()[:32]
            if token
            else ""
        )

    @property
    def login_required(self) -> bool:
        return self._token is not None

    def token_matches(self, given: str) -> bool:
        return self._token is not None and hmac.compare_digest(
            given.encode("utf-8", "replace"), self._token.encode()
        )

    def new(self, previous: WebSession | None = None) -> WebSession:
        """A session that passed the login (or needs none); keeps the conversation if known."""
        return WebSession(id=previous.id if previous else secrets.token_hex(16), login=self._login)

    def read(self, request: web.Request) -> WebSession | None:
        """The request's session if its cookie is genuine, else None (forged, expired, absent)."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=MAX_AGE)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return None
        return WebSession(id=data["id"], login=str(data.get("login", "")))

    def authorised(self, session: WebSession | None) -> bool:
        if session is None:
            return False
        return not self.login_required or hmac.compare_digest(session.login, self._login)

    def write(
        self, request: web.Request, response: web.StreamResponse, session: WebSession
    ) -> None:
        response.set_cookie(
            COOKIE,
            self._serializer.dumps({"id": session.id, "login": session.login}),
            max_age=MAX_AGE,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=_is_https(request),
        )

    def clear(self, response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")


def _is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


class LoginThrottle:
    """At most ``attempts`` wrong tokens per client address in ``window`` seconds.

    Hand-written because it is a dozen lines over a deque; the account-wide limiter in
    ``core.limits`` is about Moonshot's quotas, not about guessing passwords.
    """

    def __init__(self, attempts: int = 10, window: float = 600.0) -> None:
        self._attempts = attempts
        self._window = window
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, address: str) -> bool:
        failures = self._failures.get(address)
        if not failures:
            return False
        cutoff = time.monotonic() - self._window
        while failures and failures[0] < cutoff:
            failures.popleft()
        return len(failures) >= self._attempts

    def failed(self, address: str) -> None:
        if len(self._failures) > 10_000:  # never grows without bound under a spray of addresses
            self._failures.clear()
        self._failures.setdefault(address, deque()).append(time.monotonic())
