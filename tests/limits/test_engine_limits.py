"""The engine with limits and budgets wired in: a flood of users through the real engine earns no 429 from the emulator enforcing the same
limits; over budget, no model call; ``kimi-bot usage`` prints the ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.catalog import load_catalog
from core.service import start_services
from core.types import Author, CollectingSink, ConversationKey, Incoming
from emulators.moonshot import MoonshotEmulator
from storage import COMPLETE
from tests.conftest import EMULATOR_KEY, make_settings
from tests.support.messages import ask as support_ask

MODELS = """
[models."kimi-k2"]
rpm = 1000
concurrency = 2
"""


def ask(user: int, text: str) -> Incoming:
    """User ``user``'s question in a conversation of its own."""
    return support_ask(
        text,
        key=ConversationKey(platform="cli", chat=f"flood-{user}"),
        author=Author(id=f"cli:user{user}"),
    )


async def test_a_flood_through_the_engine_gets_no_429(tmp_path: Path, sqlite_url: str) -> None:
    models = tmp_path / "models.toml"
    models.write_text(MODELS)
    emulator = MoonshotEmulator(
        api_key=EMULATOR_KEY,
        catalog=load_catalog(models),
        enforce_limits=True,
        token_delay=0.004,
    )
    await emulator.start()
    settings = make_settings(
        emulator.base_url,
        sqlite_url,
        kimi_models_file=str(models),
        kimi_max_retries=0,
        kimi_tools=False,
        kimi_web_search=False,
    )
    services = await start_services(settings)
    try:
        sinks = [CollectingSink() for _ in range(12)]
        outcomes = await asyncio.gather(
            *(
                services.assistant.handle(ask(i % 6, f"question {i}"), s)
                for i, s in enumerate(sinks)
            )
        )
        assert [o.status if o else None for o in outcomes] == [COMPLETE] * 12
        assert emulator.rate_limited_count == 0
        usage = await services.db.usage.totals()
        assert usage.calls == 12
    finally:
        await services.close()
        await emulator.stop()


async def test_over_budget_no_model_call(moonshot, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(moonshot.base_url, sqlite_url, budget_user_daily_cny=0.000001)
    services = await start_services(settings)
    try:
        first = await services.assistant.handle(ask(1, "hello"), CollectingSink())
        assert first is not None and first.status == COMPLETE
        calls = len(moonshot.requests)
        sink = CollectingSink()
        assert await services.assistant.handle(ask(1, "again"), sink) is None
        assert len(moonshot.requests) == calls
        assert sink.replies and "daily budget" in sink.replies[0]
        other = await services.assistant.handle(ask(2, "hi"), CollectingSink())
        assert other is not None and other.status == COMPLETE
    finally:
        await services.close()


def test_usage_command(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bots.cli import main

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["usage", "--since", "all", "--by", "model", "--format", "json"]) == 0
    assert '"rows": []' in capsys.readouterr().out
