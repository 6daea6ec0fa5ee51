"""A running console for the access and settings tests: the real web chat and ``/admin``
adapters on the real HTTP server, with the Moonshot emulator; and the form helpers."""

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
from tests.support.database import clean_database

ADMIN_TOKEN = "admin-token-f00d-4c1d-b33f"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    """One server; ``browser()`` is a client with its own cookie jar."""

    def __init__(
        self, base_url: str, console: AdminConsole, services: Any, chat: WebChatAdapter
    ) -> None:
        self.base_url = base_url
        self.chat = chat
        self.console = console
        self.gate = console.gate
        self.services = services
        self._clients: list[aiohttp.ClientSession] = []

    def browser(self) -> aiohttp.ClientSession:
        client = aiohttp.ClientSession(
            base_url=self.base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.close()


@asynccontextmanager
async def running_console(
    moonshot_url: str, database_url: str, *, demo: bool = False, **settings: object
) -> AsyncIterator[Console]:
    built = await start_services(make_settings(moonshot_url, database_url, **settings))
    await clean_database(built.db)
    await built.assistant.access.console.refresh()  # read before the shared database was emptied
    chat = WebChatAdapter(built)
    console = AdminConsole(built, demo=demo)
    server = HttpServer(build_app(built.db, chat.routes() + console.routes()), "127.0.0.1", 0)
    await server.start()
    await chat.start()
    await console.start()
    running = Console(f"http://127.0.0.1:{server.port}", console, built, chat)
    try:
        yield running
    finally:
        await running.close()
        await console.stop()
        await chat.stop()
        await server.stop()
        await built.close()


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


async def log_in(client: aiohttp.ClientSession, token: str = ADMIN_TOKEN) -> aiohttp.ClientResponse:
    """The login form as a browser fills it: GET the form (its nonce), POST the token."""
    async with client.get("/admin/login") as page:
        nonce = csrf_of(await page.text())
    async with client.post(
        "/admin/login", data={"csrf": nonce, "token": token}, allow_redirects=False
    ) as response:
        await response.read()
        return response


async def page_csrf(client: aiohttp.ClientSession, path: str = "/admin/settings") -> str:
    async with client.get(path) as page:
        assert page.status == 200, await page.text()
        return csrf_of(await page.text())


def web_user_id(running: Console, client: aiohttp.ClientSession) -> str:
    """The user id the web chat gives this browser (``web:<session>``), as an operator would
    copy it from the usage pages."""
    from yarl import URL

    from bots.web.sessions import COOKIE

    raw = client.cookie_jar.filter_cookies(URL(running.base_url))[COOKIE].value
    return f"web:{running.chat._cookies._serializer.loads(raw)['id']}"
