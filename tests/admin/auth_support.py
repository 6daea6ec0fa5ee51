"""A running operator console for the ``/admin`` tests: the web chat and ``/admin`` on one real
HTTP server (as ``kimi-bot run`` serves them), real services on the Moonshot emulator, a real
gate; and the form helpers a browser's steps come down to (login, CSRF nonces, one-time links).

The ``admin_console`` and ``console`` fixtures (``tests/admin/conftest.py``) start one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from bots.http import HttpServer, build_app
from bots.web import WebChatAdapter
from bots.web.admin import AdminConsole
from core.service import start_services
from tests.conftest import make_settings
from tests.support.browsers import BrowserPool
from tests.support.database import clean_database

ADMIN_TOKEN = "console-token-for-tests-0123456789"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


class RunningConsole(BrowserPool):
    """One server; ``browser()`` is a client with its own cookie jar, ``signed_in()`` one
    already through the login form."""

    def __init__(
        self, base_url: str, admin: AdminConsole, chat: WebChatAdapter, services: Any
    ) -> None:
        super().__init__(base_url)
        self.admin = admin
        self.chat = chat
        self.gate = admin.gate
        self.services = services

    async def signed_in(self, token: str = ADMIN_TOKEN) -> aiohttp.ClientSession:
        """A client through the login form (its CSRF nonce included), on ``/admin``."""
        client = self.browser()
        await log_in(client, token)
        return client


@asynccontextmanager
async def running_console(
    moonshot_url: str, database_url: str, *, demo: bool = False, **settings: object
) -> AsyncIterator[RunningConsole]:
    """Settings as keyword overrides; ``admin_token`` is ``ADMIN_TOKEN`` unless given
    (``admin_token=None``: no token login)."""
    settings.setdefault("admin_token", ADMIN_TOKEN)
    built = await start_services(make_settings(moonshot_url, database_url, **settings))
    await clean_database(built.db)
    await built.assistant.access.console.refresh()  # read before the shared database was emptied
    chat = WebChatAdapter(built)
    admin = AdminConsole(built, demo=demo)
    server = HttpServer(build_app(built.db, chat.routes() + admin.routes()), "127.0.0.1", 0)
    await server.start()
    await chat.start()
    await admin.start()
    running = RunningConsole(f"http://127.0.0.1:{server.port}", admin, chat, built)
    try:
        yield running
    finally:
        await running.close()
        await admin.stop()
        await chat.stop()
        await server.stop()
        await built.close()


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


async def submit_form(
    client: aiohttp.ClientSession, path: str, form: dict[str, str]
) -> aiohttp.ClientResponse:
    """A form as a browser sends it: GET its page (the form's CSRF nonce), POST it back."""
    async with client.get(path) as page:
        nonce = csrf_of(await page.text())
    async with client.post(path, data={"csrf": nonce, **form}, allow_redirects=False) as response:
        await response.read()
        return response


async def log_in(client: aiohttp.ClientSession, token: str = ADMIN_TOKEN) -> aiohttp.ClientResponse:
    """The login form as a browser fills it: GET the form (its nonce), POST the token."""
    return await submit_form(client, "/admin/login", {"token": token})


async def follow_link(client: aiohttp.ClientSession, token: str) -> aiohttp.ClientResponse:
    """A one-time link as a browser follows it: GET its page (the form's nonce), POST the form."""
    return await submit_form(client, f"/admin/link/{token}", {})


async def page_csrf(client: aiohttp.ClientSession, path: str = "/admin/settings") -> str:
    async with client.get(path) as page:
        assert page.status == 200, await page.text()
        return csrf_of(await page.text())


def web_user_id(running: RunningConsole, client: aiohttp.ClientSession) -> str:
    """The user id the web chat gives this browser (``web:<session>``), as an operator would
    copy it from the usage pages."""
    from yarl import URL

    from bots.web.sessions import COOKIE

    raw = client.cookie_jar.filter_cookies(URL(running.base_url))[COOKIE].value
    return f"web:{running.chat._cookies._serializer.loads(raw)['id']}"


async def new_page(browser: Any, **options: Any) -> Any:
    """A Playwright page in a fresh context (a browser of its own), with a 15 s timeout."""
    context = await browser.new_context(**options)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return page
