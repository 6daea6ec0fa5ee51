"""Hardening suites: the platform fixtures of tests/telegram and tests/slack under other names
(both call theirs ``start_bot``), plus trackers that tell when one particular turn is over."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pytest

from core import errors, texts
from storage import IN_PROGRESS, Database
from storage.records import ConversationKey, StoredMessage
from tests.slack.conftest import SlackBot
from tests.slack.conftest import emu as emu
from tests.slack.conftest import start_bot as start_slack  # noqa: F401 - fixture
from tests.telegram.conftest import Bot as TelegramBot
from tests.telegram.conftest import start_bot as start_telegram  # noqa: F401 - fixture
from tests.telegram.conftest import tg as tg


def _all_subclasses(cls: type) -> list[type]:
    found: list[type] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def error_texts() -> set[str]:
    """Every error text the core can put in a chat (both languages)."""
    found = {cls.user_message for cls in (errors.KimiError, *_all_subclasses(errors.KimiError))}
    found.update(texts._ZH_ERRORS.values())
    for name in ("internal", "cancelled", "interrupted", "restarting"):
        found.update({texts.text(name, "en"), texts.text(name, "zh")})
    return {t for t in found if t}


ERROR_TEXTS = tuple(sorted(error_texts()))
INCOMPLETE_MARKERS = ("answer incomplete", "回答不完整", "⚠️")


def is_clear_failure(text: str, expected: str) -> bool:
    """A message that says plainly what went wrong: an error text, or a partial answer of
    ``expected`` followed by the reason it stopped."""
    shown = text.strip()
    if any(e.strip() in shown for e in ERROR_TEXTS):
        return True
    for marker in INCOMPLETE_MARKERS:
        if marker in shown:
            head = shown.split(marker, 1)[0].rstrip(" *_\n(（")
            return expected.startswith(head.strip()) or not head.strip()
    return False


class TurnTracker:
    """An event per turn, set when the adapter has completely handled it."""

    def __init__(self) -> None:
        self._done: dict[Hashable, asyncio.Event] = defaultdict(asyncio.Event)
        self.finished: list[Hashable] = []

    def mark(self, key: Hashable) -> None:
        self.finished.append(key)
        self._done[key].set()

    async def wait(self, key: Hashable, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self._done[key].wait(), timeout)


def track_telegram(bot: TelegramBot) -> TurnTracker:
    """Turns keyed by update_id."""
    tracker = TurnTracker()
    processor = bot.adapter.processor
    original = processor.process

    async def process(update: Any) -> None:
        try:
            await original(update)
        finally:
            tracker.mark(update.update_id)

    processor.process = process  # type: ignore[method-assign]
    return tracker


def track_slack(bot: SlackBot) -> TurnTracker:
    """Turns keyed by (channel, message ts) of the user's message."""
    tracker = TurnTracker()
    handler = bot.adapter._messages
    original = handler.handle

    async def handle(addressed: Any, event: dict[str, Any], *args: Any) -> None:
        try:
            await original(addressed, event, *args)
        finally:
            tracker.mark((str(event.get("channel")), str(event.get("ts"))))

    handler.handle = handle  # type: ignore[method-assign]
    return tracker


async def stored(db: Database, key: ConversationKey) -> list[StoredMessage]:
    """The active conversation's messages, oldest first ([] if there is none)."""
    conversation = await db.conversations.active(key)
    if conversation is None:
        return []
    return list(reversed(await db.messages.page(conversation.id, limit=10_000)))


async def in_progress_answers(db: Database, keys: list[ConversationKey]) -> list[StoredMessage]:
    left: list[StoredMessage] = []
    for key in keys:
        left.extend(m for m in await stored(db, key) if m.status == IN_PROGRESS)
    return left


ROOMY_MODELS = "".join(
    f'[models."{model}"]\nrpm = 100000\ntpm = 1000000000\nconcurrency = 1000\n\n'
    for model in ("kimi-k2", "moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k")
)


@pytest.fixture
def roomy_models(tmp_path: Path) -> str:
    """A catalog whose account limits are far above what a test sends (the suites here are about
    faults, not about our limiter, which has its own tests)."""
    path = tmp_path / "models.toml"
    path.write_text(ROOMY_MODELS)
    return str(path)


@pytest.fixture
async def telegram_webhook(
    tg: Any,
    start_telegram: Any,  # noqa: F811 - the fixture imported above
    roomy_models: str,
) -> Any:
    """The Telegram adapter in webhook mode behind our HTTP server (as ``kimi-bot run`` mounts
    it); yields (bot, url, secret)."""
    from bots.http import HttpServer, build_app
    from tests.telegram.test_updates import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    secret = "hardening-Secret_42"
    bot = await start_telegram(
        telegram_webhook_url=url, telegram_webhook_secret=secret, kimi_models_file=roomy_models
    )
    server = HttpServer(build_app(bot.services.db, bot.adapter.routes()), "127.0.0.1", port)
    await server.start()
    yield bot, url, secret
    await server.stop()


@pytest.fixture
async def roomy_services(moonshot: Any, db_url: str, roomy_models: str) -> Any:
    """``services`` (SQLite and PostgreSQL) with the roomy catalog: many turns in a row."""
    from core.service import start_services
    from tests.conftest import make_settings
    from tests.support.database import clean_database

    built = await start_services(
        make_settings(moonshot.base_url, db_url, kimi_models_file=roomy_models)
    )
    await clean_database(built.db)
    yield built
    await built.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every hardening test is ``slow`` (``pytest -m "not slow"`` for a quick run)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.slow)
