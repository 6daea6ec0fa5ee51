"""WebChatAdapter: a chat page served by ``kimi-bot run`` itself, on the same HTTP server.

Each browser gets its own conversation (a signed cookie names it), with the same assistant,
memory, commands, documents and limits as Telegram and Slack. On a loopback ``HOST`` the page
is open; anywhere else it needs ``WEB_TOKEN`` (a login form), and without one it stays off and
says why. Answers stream back as server-sent events on the POST that sent the message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from html import escape
from importlib import resources

from aiohttp import web

from bots.http import Route
from bots.web.history import history_payload
from bots.web.sessions import LoginThrottle, SessionCookies, WebSession, is_loopback
from bots.web.sink import EVENT_STREAM_HEADERS, EventStreamSink
from bots.web.uploads import BadMessage, read_message
from core import command_registry, texts
from core.documents.formats import MAX_FILE_BYTES
from core.service import Services
from core.types import Author, Incoming
from core.vocabulary import ConversationKey

log = logging.getLogger(__name__)

PLATFORM = "web"
SIGNING_KEY_NAME = "web_session_signing_key"
AJAX_HEADER = "X-Kimi-Chat"  # a header a cross-site form cannot send: our CSRF guard
STATIC_FILES = {
    "chat.js": "text/javascript",
    "chat.css": "text/css",
    "login.css": "text/css",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@functools.cache
def _asset(name: str) -> bytes:
    """A file of the page, read once (no disk read on the event loop per request)."""
    return resources.files("bots.web").joinpath("static", name).read_bytes()


class WebChatAdapter:
    name = PLATFORM

    def __init__(
        self, services: Services, *, demo: bool = False, max_file_bytes: int = MAX_FILE_BYTES
    ) -> None:
        settings = services.settings
        self._services = services
        self._demo = demo
        self._max_file_bytes = max_file_bytes
        self._max_image_bytes = min(settings.image_max_bytes, max_file_bytes)
        token = settings.web_token.get_secret_value() if settings.web_token else None
        self._token = token or None
        self._host = settings.host
        self.enabled = self._token is not None or is_loopback(settings.host)
        self._cookies: SessionCookies | None = None
        self._throttle = LoginThrottle()
        self._turns: set[asyncio.Task[object]] = set()

    @property
    def off_reason(self) -> str:
        return (
            f"The web chat is off: HOST={self._host} accepts connections from other machines and "
            "WEB_TOKEN is not set. Set WEB_TOKEN to serve it behind a login, or WEB_CHAT=false "
            "to turn it off."
        )

    # -- Adapter ----------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        if not self.enabled:
            return [("GET", "/", self._off)]
        return [
            ("GET", "/", self._page),
            ("GET", "/login", self._login_page),
            ("POST", "/login", self._login),
            ("POST", "/logout", self._logout),
            ("GET", "/static/{name}", self._static),
            ("GET", "/api/session", self._session_info),
            ("POST", "/api/messages", self._message),
            ("POST", "/api/feedback", self._feedback),
        ]

    async def start(self) -> None:
        if not self.enabled:
            log.warning("%s", self.off_reason)
            return
        key = await self._services.conversations.instance_secret(
            SIGNING_KEY_NAME, lambda: secrets.token_hex(32)
        )
        self._cookies = SessionCookies(key, self._token)

    async def stop(self) -> None:
        if self._turns:  # the assistant drained already; these are only finishing their writes
            await asyncio.wait(set(self._turns), timeout=5)

    async def notify(self, key: ConversationKey, text: str) -> None:
        """The page has no push channel; the stored (incomplete) answer shows on reload."""
        log.info("web chat %s: %s", key.label(), text)

    # -- pages ------------------------------------------------------------------------------
    async def _off(self, _request: web.Request) -> web.Response:
        return web.Response(status=403, text=self.off_reason, headers=SECURITY_HEADERS)

    async def _page(self, request: web.Request) -> web.Response:
        cookies = self._ready()
        session = cookies.read(request)
        if not cookies.authorised(session):
            if cookies.login_required:
                return _redirect("/login")
            session = cookies.new(session)
        response = self._html("index.html")
        assert session is not None
        cookies.write(request, response, session)
        return response

    async def _login_page(self, request: web.Request) -> web.Response:
        cookies = self._ready()
        if not cookies.login_required or cookies.authorised(cookies.read(request)):
            return _redirect("/")
        return self._html("login.html")

    async def _login(self, request: web.Request) -> web.Response:
        cookies = self._ready()
        _same_origin_or_403(request)
        address = request.remote or "?"
        if self._throttle.blocked(address):
            log.warning("web chat: login attempts from %s paused (too many wrong tokens)", address)
            return self._html("login.html", status=429, error="Too many attempts. Try later.")
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not cookies.token_matches(given):
            self._throttle.failed(address)
            log.info("web chat: wrong token from %s", address)
            return self._html("login.html", status=401, error="That token is not right.")
        response = _redirect("/")
        cookies.write(request, response, cookies.new(cookies.read(request)))
        return response

    async def _logout(self, request: web.Request) -> web.Response:
        cookies = self._ready()
        _same_origin_or_403(request)
        response = _redirect("/login" if cookies.login_required else "/")
        if cookies.login_required:
            cookies.clear(response)
        return response

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.Response(
            body=_asset(name),
            content_type=STATIC_FILES[name],
            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )

    def _html(self, name: str, *, status: int = 200, error: str = "") -> web.Response:
        page = _asset(name).decode().replace("{{error}}", escape(error))
        return web.Response(
            status=status,
            text=page,
            content_type="text/html",
            headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
        )

    # -- API --------------------------------------------------------------------------------
    async def _session_info(self, request: web.Request) -> web.Response:
        session = self._session_or_401(request)
        services = self._services
        payload = await history_payload(services.conversations, self._key(session))
        payload.update(
            demo=self._demo,
            login_required=self._ready().login_required,
            default_model=services.settings.kimi_model,
            max_file_bytes=self._max_file_bytes,
            max_image_bytes=self._max_image_bytes,
            commands=command_registry.hints(browser_language(request) or "en"),
        )
        return web.json_response(payload, headers={"Cache-Control": "no-store"})

    async def _message(self, request: web.Request) -> web.StreamResponse:
        session = self._session_or_401(request)
        if request.headers.get(AJAX_HEADER) != "1":
            raise web.HTTPForbidden(text="missing the chat page's header")
        try:
            message = await read_message(
                request,
                max_file_bytes=self._max_file_bytes,
                max_image_bytes=self._max_image_bytes,
            )
        except BadMessage as bad:
            log.info("web chat: refused a message: %s", bad)
            return web.json_response({"error": str(bad)}, status=bad.status)
        incoming = Incoming(
            key=self._key(session),
            author=Author(id=f"{PLATFORM}:{session.id}", name=""),
            text=message.text,
            attachments=message.attachments,
            language=browser_language(request),
        )
        response = web.StreamResponse(headers={**EVENT_STREAM_HEADERS, **SECURITY_HEADERS})
        await response.prepare(request)
        sink = EventStreamSink(response)
        # Its own task: a browser that disconnects must not cancel the answer being stored.
        turn = asyncio.create_task(self._services.assistant.handle(incoming, sink))
        self._turns.add(turn)
        turn.add_done_callback(self._turns.discard)
        try:
            await asyncio.shield(turn)
        finally:
            conversation_id = await self._services.conversations.active_id(incoming.key)
            await sink.send("end", {"conversation": conversation_id, "answer": _answer_of(turn)})
        return response

    async def _feedback(self, request: web.Request) -> web.Response:
        """``{"answer": id, "rating": 1 | -1 | 0}``: this browser's 👍/👎 on one of its answers."""
        session = self._session_or_401(request)
        if request.headers.get(AJAX_HEADER) != "1":
            raise web.HTTPForbidden(text="missing the chat page's header")
        try:
            body = await request.json()
            answer, rating = body["answer"], body["rating"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "expected answer and rating"}, status=400)
        if type(answer) is not int or rating not in (1, -1, 0) or type(rating) is not int:
            return web.json_response({"error": "expected answer and rating"}, status=400)
        stored = await self._services.feedback.record(
            PLATFORM, session.id, answer, f"{PLATFORM}:{session.id}", rating
        )
        if not stored:
            return web.json_response({"error": "no such answer"}, status=404)
        return web.json_response({"answer": answer, "rating": rating})

    # -- helpers ----------------------------------------------------------------------------
    def _ready(self) -> SessionCookies:
        if self._cookies is None:
            raise web.HTTPServiceUnavailable(text="starting")
        return self._cookies

    def _session_or_401(self, request: web.Request) -> WebSession:
        cookies = self._ready()
        session = cookies.read(request)
        if not cookies.authorised(session):
            raise web.HTTPUnauthorized(
                text='{"error": "log in first"}', content_type="application/json"
            )
        assert session is not None
        return session

    @staticmethod
    def _key(session: WebSession) -> ConversationKey:
        return ConversationKey(platform=PLATFORM, chat=session.id)


def _answer_of(turn: asyncio.Task[object]) -> int | None:
    """The stored answer's id, when the turn produced one (the page's 👍/👎 rate it)."""
    if not turn.done() or turn.cancelled() or turn.exception() is not None:
        return None
    return getattr(turn.result(), "answer_id", None)


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})


def browser_language(request: web.Request) -> str:
    """The browser's first choice in ``Accept-Language`` ("zh" or "en"; "" for any other)."""
    first = request.headers.get("Accept-Language", "").split(",", 1)[0]
    return texts.language_tag(first.split(";", 1)[0])


def _same_origin_or_403(request: web.Request) -> None:
    """A form posted from another site carries its Origin; refuse it (login CSRF)."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
        raise web.HTTPForbidden(text="cross-site request refused")
