"""Who may open the operator console: the login, the one-time links, sessions, CSRF, the audit.

Two ways in, both required on every address (loopback too: the console shows what every user
spent and may change their budgets):

- ``ADMIN_TOKEN``: a login form at ``/admin/login``, rate-limited per client address;
- for the ids in ``ADMINS``: ``/admin`` in a private chat answers with a one-time link
  (``/admin/link/<token>``, 10 minutes, spent in the database so it works once on any worker).
  Opening it shows a "Sign in" button; only the button's POST spends it, so the link previews
  Telegram and Slack fetch do not.

A session is a cookie signed with a per-deployment key (itsdangerous, as the web chat's), with
an expiry (``ADMIN_SESSION_HOURS``) and its own CSRF token; ``HttpOnly; SameSite=Strict``, and
``Secure`` off loopback or over HTTPS. Changing ``ADMIN_TOKEN`` (or removing an id from
``ADMINS``) signs those sessions out. Every form POST is checked for the session's CSRF token and
for a same-origin request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from bots.http import Route
from bots.web.adapter import SECURITY_HEADERS
from bots.web.admin.layout import esc, page
from bots.web.sessions import LoginThrottle, is_loopback
from core.admin_settings import LINK_LIFETIME, server_url
from core.service import Services

log = logging.getLogger(__name__)

COOKIE = "kimi_admin"
LOGIN_COOKIE = "kimi_admin_login"  # the login forms' CSRF nonce, before there is a session
COOKIE_PATH = "/admin"
SIGNING_KEY_NAME = "admin_session_signing_key"
TOKEN_ADMIN = "token"  # the admin id of a session opened with ADMIN_TOKEN
DEMO_ADMIN = "demo"  # the admin id of the demo's one-time link
LOGIN_FORM_MAX_AGE = 3600
API_PREFIX = "/admin/api/"
HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}


@dataclass(frozen=True)
class AdminSession:
    """A signed-in operator: ``admin_id`` is ``"token"`` or an ``ADMINS`` id."""

    admin_id: str
    csrf: str
    expires_at: float  # Unix time


class AdminGate:
    """The console's door: routes for signing in and out, and the checks every page makes."""

    def __init__(self, services: Services, *, demo: bool = False) -> None:
        settings = services.settings
        self._services = services
        token = settings.admin_token.get_secret_value() if settings.admin_token else ""
        self._token = token or None
        self._admins = frozenset(settings.admins)
        # Demo mode (nothing configured): the start-up log gets a one-time link instead.
        self._demo = demo and self._token is None and not self._admins
        self.enabled = self._token is not None or bool(self._admins) or self._demo
        self.off_reason = (
            "The operator console is off: set ADMIN_TOKEN to sign in with a token at "
            "/admin/login, and/or list operators in ADMINS (e.g. ADMINS=telegram:123456) so "
            "that /admin in a private chat with the bot answers with a one-time sign-in link."
        )
        self._lifetime = settings.admin_session_hours * 3600
        self._loopback = is_loopback(settings.host)
        self._public_url = settings.public_url
        self._base_url = server_url(settings.public_url, settings.host, settings.port)
        self._throttle = LoginThrottle()
        self._sessions: URLSafeTimedSerializer | None = None
        self._login_forms: URLSafeTimedSerializer | None = None
        self._fingerprint = ""

    async def start(self) -> None:
        if not self.enabled:
            log.info("%s", self.off_reason)
            return
        key = await self._services.conversations.instance_secret(
            SIGNING_KEY_NAME, lambda: secrets.token_hex(32)
        )
        self._sessions = URLSafeTimedSerializer(key, salt="kimi-bot admin session")
        self._login_forms = URLSafeTimedSerializer(key, salt="kimi-bot admin login form")
        # A fingerprint of ADMIN_TOKEN in token sessions: changing the token signs them out.
        if self._token is not None:
            digest = hmac.new(key.encode(), self._token.encode(), hashlib.sha256)
            self._fingerprint = digest.hexdigest()[:32]
        if self._demo:
            link = await self._settings().issue_link(DEMO_ADMIN)
            minutes = int(LINK_LIFETIME.total_seconds() // 60)
            log.warning(
                "operator console (demo): open %s/admin/link/%s within %d minutes (works once)",
                self._base_url,
                link,
                minutes,
            )

    def routes(self) -> list[Route]:
        return [
            ("GET", "/admin/login", self._login_page),
            ("POST", "/admin/login", self._login),
            ("POST", "/admin/logout", self._logout),
            ("GET", "/admin/link/{token}", self._link_page),
            ("POST", "/admin/link/{token}", self._link_login),
        ]

    # -- the checks pages make --------------------------------------------------------------
    def session(self, request: web.Request) -> AdminSession | None:
        """The request's session if its cookie is genuine, unexpired and still entitled."""
        if self._sessions is None:
            return None
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._sessions.loads(raw, max_age=self._lifetime)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        admin_id, csrf, expires_at = data.get("a"), data.get("c"), data.get("e")
        if not isinstance(admin_id, str) or not isinstance(csrf, str):
            return None
        if not isinstance(expires_at, (int, float)) or expires_at <= time.time():
            return None
        if not self._entitled(admin_id, str(data.get("f", ""))):
            return None
        return AdminSession(admin_id=admin_id, csrf=csrf, expires_at=float(expires_at))

    def require(self, request: web.Request) -> AdminSession:
        """The session, or the way to get one: pages redirect to the login, the API says 401."""
        if not self.enabled:
            raise web.HTTPForbidden(text=self.off_reason, headers=HEADERS)
        session = self.session(request)
        if session is not None:
            return session
        if request.path.startswith(API_PREFIX):
            raise web.HTTPUnauthorized(
                text='{"error": "log in first"}', content_type="application/json", headers=HEADERS
            )
        raise web.HTTPSeeOther("/admin/login", headers=HEADERS)

    def check_csrf(self, request: web.Request, form: Mapping[str, Any]) -> None:
        """Refuse a form POST from another site, or without this session's CSRF token."""
        if not same_origin(request, self._public_url):
            log.warning("operator console: cross-site %s %s refused", request.method, request.path)
            raise web.HTTPForbidden(text="cross-site request refused", headers=HEADERS)
        session = self.session(request)
        given = form.get("csrf")
        if (
            session is None
            or not isinstance(given, str)
            or not hmac.compare_digest(given.encode("utf-8", "replace"), session.csrf.encode())
        ):
            log.warning(
                "operator console: %s %s without a valid CSRF token", request.method, request.path
            )
            raise web.HTTPForbidden(
                text="This form is stale or was not sent from the console: reload the page.",
                headers=HEADERS,
            )

    async def audit(self, session: AdminSession, action: str, detail: str) -> None:
        """One row of the audit log (never put a secret in ``detail``)."""
        log.info("operator console: %s: %s (%s)", session.admin_id, action, detail)
        await self._settings().audit(session.admin_id, action, detail)

    # -- signing in with ADMIN_TOKEN --------------------------------------------------------
    async def _login_page(self, request: web.Request) -> web.Response:
        self._ready()
        if self.session(request) is not None:
            return _redirect("/admin")
        return self._login_form(request)

    async def _login(self, request: web.Request) -> web.Response:
        self._ready()
        if not same_origin(request, self._public_url):
            raise web.HTTPForbidden(text="cross-site request refused", headers=HEADERS)
        address = request.remote or "?"
        if self._throttle.blocked(address):
            log.warning(
                "operator console: sign-ins from %s paused (too many wrong tokens)", address
            )
            return self._login_form(request, "Too many attempts. Try again later.", status=429)
        form = await request.post()
        if not self._login_nonce_matches(request, form):
            return self._login_form(request, self._stale_form_reason(request), status=403)
        given = form.get("token")
        if self._token is None or not isinstance(given, str) or not _same(given, self._token):
            self._throttle.failed(address)
            log.info("operator console: wrong token from %s", address)
            return self._login_form(request, "That token is not right.", status=401)
        return await self._signed_in(request, TOKEN_ADMIN, "login", "with ADMIN_TOKEN")

    async def _logout(self, request: web.Request) -> web.Response:
        self._ready()
        form = await request.post()
        response = _redirect("/admin/login")
        response.del_cookie(COOKIE, path=COOKIE_PATH)
        session = self.session(request)
        if session is None and same_origin(request, self._public_url):
            return response  # expired already: nothing to end, nothing to audit
        self.check_csrf(request, form)
        assert session is not None  # check_csrf refuses a request without one
        await self.audit(session, "logout", "")
        return response

    # -- signing in with a one-time link ----------------------------------------------------
    async def _link_page(self, request: web.Request) -> web.Response:
        """The link's landing page: a button, so a link preview's GET spends nothing."""
        self._ready()
        token = request.match_info["token"]
        admin_id = await self._settings().link_admin(token)
        if admin_id is None or not self._entitled(admin_id, ""):
            return _spent_link()
        nonce, cookie = self._new_login_nonce()
        body = (
            "<h1>Operator console</h1>"
            f"<p>Sign in as <strong>{esc(admin_id)}</strong> with this one-time link.</p>"
            f'<form method="post" action="/admin/link/{esc(token)}" class="login filters">'
            f'<input type="hidden" name="csrf" value="{esc(nonce)}">'
            '<button type="submit" class="primary">Sign in</button></form>'
        )
        response = _page("Sign in", body)
        self._set_login_cookie(request, response, cookie)
        return response

    async def _link_login(self, request: web.Request) -> web.Response:
        self._ready()
        if not same_origin(request, self._public_url):
            raise web.HTTPForbidden(text="cross-site request refused", headers=HEADERS)
        form = await request.post()
        if not self._login_nonce_matches(request, form):
            raise web.HTTPForbidden(text=self._stale_form_reason(request), headers=HEADERS)
        admin_id = await self._settings().redeem_link(request.match_info["token"])
        if admin_id is None or not self._entitled(admin_id, ""):
            log.info("operator console: a spent, expired or unknown link was used")
            return _spent_link()
        return await self._signed_in(request, admin_id, "login", "with a one-time link")

    # -- helpers ----------------------------------------------------------------------------
    async def _signed_in(
        self, request: web.Request, admin_id: str, action: str, detail: str
    ) -> web.Response:
        assert self._sessions is not None
        session = AdminSession(
            admin_id=admin_id,
            csrf=secrets.token_urlsafe(24),
            expires_at=time.time() + self._lifetime,
        )
        fingerprint = self._fingerprint if admin_id == TOKEN_ADMIN else ""
        value = self._sessions.dumps(
            {"a": admin_id, "c": session.csrf, "e": session.expires_at, "f": fingerprint}
        )
        await self.audit(session, action, f"{detail} from {request.remote or '?'}")
        response = _redirect("/admin")
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(self._lifetime),
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=self._secure(request),
        )
        response.del_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
        return response

    def _entitled(self, admin_id: str, fingerprint: str) -> bool:
        """Whether ``admin_id`` may still be signed in (settings may have changed since)."""
        if admin_id == TOKEN_ADMIN:
            return bool(self._fingerprint) and hmac.compare_digest(fingerprint, self._fingerprint)
        if admin_id == DEMO_ADMIN:
            return self._demo
        return admin_id in self._admins

    def _login_form(
        self, request: web.Request, error: str = "", *, status: int = 200
    ) -> web.Response:
        nonce, cookie = self._new_login_nonce()
        parts = ["<h1>Operator console</h1>"]
        if error:
            parts.append(f'<p class="error down" role="alert">{esc(error)}</p>')
        if self._token is not None:
            parts.append(
                '<form method="post" action="/admin/login" class="login filters">'
                f'<input type="hidden" name="csrf" value="{esc(nonce)}">'
                '<label>Admin token <input type="password" name="token" '
                'autocomplete="current-password" required autofocus></label>'
                '<button type="submit" class="primary">Sign in</button></form>'
            )
        if self._admins:
            parts.append(
                "<p>Operators listed in ADMINS: send <code>/admin</code> to the bot in a private "
                "chat (Telegram or Slack) for a one-time sign-in link.</p>"
            )
        if self._demo:
            parts.append(
                "<p>Demo mode: open the one-time link printed in the server's log, or set "
                "ADMIN_TOKEN.</p>"
            )
        response = _page("Sign in", "".join(parts), status=status)
        self._set_login_cookie(request, response, cookie)
        return response

    def _new_login_nonce(self) -> tuple[str, str]:
        assert self._login_forms is not None
        nonce = secrets.token_urlsafe(24)
        return nonce, self._login_forms.dumps(nonce)

    def _set_login_cookie(
        self, request: web.Request, response: web.StreamResponse, value: str
    ) -> None:
        response.set_cookie(
            LOGIN_COOKIE,
            value,
            max_age=LOGIN_FORM_MAX_AGE,
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=self._secure(request),
        )

    def _login_nonce_matches(self, request: web.Request, form: Mapping[str, Any]) -> bool:
        """The sign-in forms' CSRF check: the form's nonce is the one this browser was given."""
        assert self._login_forms is not None
        raw, given = request.cookies.get(LOGIN_COOKIE), form.get("csrf")
        if not raw or not isinstance(given, str):
            return False
        try:
            expected = self._login_forms.loads(raw, max_age=LOGIN_FORM_MAX_AGE)
        except BadSignature:
            return False
        return isinstance(expected, str) and _same(given, expected)

    def _stale_form_reason(self, request: web.Request) -> str:
        """Why a sign-in form came back without its nonce, in words an operator can act on."""
        if not self._loopback and not _is_https(request):
            return (
                "Off loopback the console's cookies are Secure, so it needs HTTPS: serve it "
                "behind a TLS proxy (which sets X-Forwarded-Proto: https)."
            )
        return "The form expired: open it again."

    def _secure(self, request: web.Request) -> bool:
        return _is_https(request) or not self._loopback

    def _settings(self) -> Any:
        admin = self._services.admin
        if admin is None:
            raise web.HTTPServiceUnavailable(
                text="the console's storage is not ready", headers=HEADERS
            )
        return admin

    def _ready(self) -> None:
        if not self.enabled:
            raise web.HTTPForbidden(text=self.off_reason, headers=HEADERS)
        if self._sessions is None:
            raise web.HTTPServiceUnavailable(text="starting", headers=HEADERS)


def same_origin(request: web.Request, public_url: str | None = None) -> bool:
    """Whether a state-changing request comes from a page of this server.

    Browsers send ``Sec-Fetch-Site`` (which no page can set) and ``Origin`` on every POST; with
    neither (a script, not a browser) the request is let through, since the CSRF token still has
    to match. ``Origin: null`` without ``Sec-Fetch-Site: same-origin`` (sandboxed frames,
    cross-site redirects) is refused."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return False
    if fetch_site == "same-origin":  # set by the browser itself; no page can forge it
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if not referer:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin == "null":
        return False
    allowed = {request.host}
    if public_url:
        allowed.add(urlsplit(public_url).netloc)
    return origin.split("://", 1)[-1] in allowed


def _is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def _page(title: str, body: str, *, status: int = 200) -> web.Response:
    return page(title, body, session=None, status=status)


def _spent_link() -> web.Response:
    body = (
        "<h1>Operator console</h1><p>This sign-in link was used already or has expired. Send "
        "<code>/admin</code> to the bot in a private chat for a new one.</p>"
    )
    return _page("Link expired", body, status=403)


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **HEADERS})
