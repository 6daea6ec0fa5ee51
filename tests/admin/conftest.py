"""A running operator console: the web chat and ``/admin`` on one real HTTP server (as
``kimi-bot run`` serves them), real services on the Moonshot emulator, a real gate.

``admin_console(**settings)`` starts one; ``console.signed_in()`` is an HTTP client already
through the ``ADMIN_TOKEN`` login form, as a browser would be.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from bots.http import HttpServer, build_app
from bots.web import WebChatAdapter
from bots.web.admin import AdminConsole
from core.service import start_services
from storage.records import UsageEntry
from tests.conftest import make_settings

ADMIN_TOKEN = "console-token-for-tests-0123456789"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


class RunningConsole:
    def __init__(self, base_url: str, admin: AdminConsole, chat: Any, services: Any) -> None:
        self.base_url = base_url
        self.admin = admin
        self.chat = chat
        self.services = services
        self._clients: list[aiohttp.ClientSession] = []

    def browser(self) -> aiohttp.ClientSession:
        client = aiohttp.ClientSession(
            base_url=self.base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self._clients.append(client)
        return client

    async def signed_in(self, token: str = ADMIN_TOKEN) -> aiohttp.ClientSession:
        """A client through the login form (its CSRF nonce included), on ``/admin``."""
        client = self.browser()
        await login(client, token)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.close()


async def login(client: aiohttp.ClientSession, token: str) -> aiohttp.ClientResponse:
    async with client.get("/admin/login") as response:
        form = await response.text()
    match = CSRF_RE.search(form)
    assert match, form
    async with client.post(
        "/admin/login", data={"token": token, "csrf": match.group(1)}, allow_redirects=False
    ) as response:
        await response.read()
        return response


@asynccontextmanager
async def running_console(
    moonshot_url: str, database_url: str, **settings: object
) -> AsyncIterator[RunningConsole]:
    settings.setdefault("admin_token", ADMIN_TOKEN)
    built = await start_services(make_settings(moonshot_url, database_url, **settings))
    chat = WebChatAdapter(built)
    admin = AdminConsole(built)
    server = HttpServer(build_app(built.db, chat.routes() + admin.routes()), "127.0.0.1", 0)
    await server.start()
    await chat.start()
    await admin.start()
    console = RunningConsole(f"http://127.0.0.1:{server.port}", admin, chat, built)
    try:
        yield console
    finally:
        await console.close()
        await admin.stop()
        await chat.stop()
        await server.stop()
        await built.close()


@pytest.fixture
def admin_console(moonshot: Any, sqlite_url: str) -> Callable[..., Any]:
    """``async with admin_console(admin_can_read=True) as console``: settings as overrides."""

    def start(**settings: object) -> Any:
        return running_console(moonshot.base_url, sqlite_url, **settings)

    return start


def ledger_row(
    *,
    model: str = "kimi-k2-0905-preview",
    user: str = "telegram:1",
    platform: str = "telegram",
    chat: str = "telegram:1",
    prompt: int = 1000,
    completion: int = 200,
    cached: int = 0,
    cost: float = 0.01,
    currency: str = "CNY",
    first_token_ms: int | None = 300,
    web_searches: int = 0,
    tool_fees: float = 0.0,
) -> UsageEntry:
    """One ledger row as a Moonshot call writes it (for seeding past days)."""
    return UsageEntry(
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cost=cost,
        currency=currency,
        latency_ms=900,
        first_token_ms=first_token_ms,
        user_id=user,
        platform=platform,
        chat_key=chat,
        conversation_id=None,
        message_id=None,
        tool_fees=tool_fees,
        web_searches=web_searches,
    )


async def seed(db: Any, rows: list[tuple[datetime, UsageEntry]]) -> None:
    for when, entry in rows:
        await db.usage.record_at(entry, when)
