"""Slack end to end: the real slack-bolt/slack-sdk over HTTP against the Slack emulator, the
Moonshot emulator and the real engine, with our aiohttp server hosting the adapter's routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bots.http import HttpServer, build_app
from bots.slack import SlackAdapter
from core.service import Services, start_services
from emulators.slack import SlackEmulator
from tests.conftest import make_settings
from tests.support.database import clean_database
from tests.support.messages import user_texts  # noqa: F401 (the package's tests import it here)

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SECRET = "test-signing-secret"
INTERVAL = 0.3


@dataclass
class SlackBot:
    """One running worker: services, adapter and (in HTTP mode) our HTTP server."""

    services: Services
    adapter: SlackAdapter
    server: HttpServer | None
    closed: bool = False

    @property
    def events_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/slack/events"

    async def idle(self) -> None:
        await self.adapter.idle()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.adapter.stop()
        if self.server is not None:
            await self.server.stop()
        await self.services.close()


StartBot = Callable[..., Awaitable[SlackBot]]


@pytest.fixture
async def emu() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(bot_token=BOT_TOKEN, app_token=APP_TOKEN, signing_secret=SECRET)
    await emulator.start()
    emulator.add_user("U1", name="alice", real_name="Alice Smith", display_name="Alice")
    emulator.add_user("U2", name="bob", real_name="Bob Jones", display_name="Bob")
    emulator.add_channel("C1", name="general")
    emulator.add_channel("D1", is_im=True, user="U1")
    emulator.add_channel("D2", is_im=True, user="U2")
    yield emulator
    await emulator.stop()


@pytest.fixture
async def start_bot(emu: SlackEmulator, moonshot: Any, sqlite_url: str) -> AsyncIterator[StartBot]:
    """Start a worker; ``socket=True`` for Socket Mode; ``database_url`` to share or pick a DB."""
    bots: list[SlackBot] = []

    async def start(
        *, socket: bool = False, database_url: str | None = None, route: bool = True, **extra: Any
    ) -> SlackBot:
        overrides: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SECRET,
            "slack_api_url": emu.api_url,
            "slack_update_interval": INTERVAL,
        }
        if socket:
            overrides["slack_app_token"] = APP_TOKEN
        overrides.update(extra)
        settings = make_settings(moonshot.base_url, database_url or sqlite_url, **overrides)
        services = await start_services(settings)
        if database_url is None or not bots:
            await clean_database(services.db)  # PostgreSQL is shared by the test session
        adapter = SlackAdapter(services)
        server = None
        if not socket:
            server = HttpServer(build_app(services.db, adapter.routes()), "127.0.0.1", 0)
            await server.start()
        bot = SlackBot(services, adapter, server)
        bots.append(bot)
        await adapter.start()
        if server is not None and route:
            emu.events_url = bot.events_url
            emu.commands_url = bot.events_url.replace("/events", "/commands")
        return bot

    yield start
    for bot in reversed(bots):
        await bot.close()


@pytest.fixture
async def bot(start_bot: StartBot) -> SlackBot:
    return await start_bot()
