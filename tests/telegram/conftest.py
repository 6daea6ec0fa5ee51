"""Telegram end to end: the real python-telegram-bot over HTTP against the Telegram emulator,
the real engine against the Moonshot emulator. Flood control stays on in every test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bots.telegram import TelegramAdapter
from core.service import Services, start_services
from emulators.telegram import TelegramEmulator
from tests.conftest import make_settings
from tests.support.database import clean_database
from tests.support.messages import user_texts  # noqa: F401 (the package's tests import it here)

TOKEN = "123456:TEST-TOKEN"
BOT_USERNAME = "kimi_test_bot"
USER = 42
BOB = 43
GROUP = -1001234

# PTB warns on every RetryAfter it builds (int today, timedelta later): noise here.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

FAST = {"telegram_edit_interval_private": 0.3, "telegram_edit_interval_group": 0.3}


@dataclass
class Bot:
    """A running adapter with its services; ``processed`` counts handled updates."""

    adapter: TelegramAdapter
    services: Services

    @property
    def processed(self) -> int:
        return self.adapter.processor.processed

    async def stop(self) -> None:
        await self.adapter.stop()
        await self.services.close()


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(token=TOKEN, bot_username=BOT_USERNAME)
    await emulator.start()
    yield emulator
    await emulator.stop()


StartBot = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def start_bot(
    tg: TelegramEmulator, moonshot: Any, sqlite_url: str
) -> AsyncIterator[StartBot]:
    """Start an adapter (polling unless a webhook URL is given); all are stopped at the end."""
    running: list[Bot] = []
    seen_urls: set[str] = set()

    async def start(database_url: str | None = None, **overrides: object) -> Bot:
        values: dict[str, object] = {
            "telegram_bot_token": TOKEN,
            "telegram_api_url": tg.url,
            **FAST,
        }
        values.update(overrides)
        settings = make_settings(moonshot.base_url, database_url or sqlite_url, **values)
        services = await start_services(settings)
        if settings.database_url not in seen_urls:  # a shared PostgreSQL starts empty per test
            seen_urls.add(settings.database_url)
            await clean_database(services.db)
        adapter = TelegramAdapter(services)
        await adapter.start()
        bot = Bot(adapter, services)
        running.append(bot)
        return bot

    yield start
    for bot in reversed(running):
        if bot.adapter.app.running:
            await bot.stop()


async def handled(tg: TelegramEmulator, bot: Bot, count: int, within: float = 15.0) -> None:
    """Wait until the adapter finished ``count`` updates (answers delivered)."""
    await tg.wait_for(lambda: bot.processed >= count, timeout=within)


def visible(tg: TelegramEmulator, chat: int, thread: int | None = None) -> list[str]:
    """What the chat shows from the bot, in order (deleted messages left out)."""
    return [m.text or "" for m in tg.messages(chat, thread) if not m.deleted]
