"""The engine with limits and budgets wired in: a flood of users through the real engine earns no 429 from the emulator enforcing the same
limits; over budget, no model call; a model's day spent (Moonshot's TPD 429, or the catalog's
``tpd``), the user is told and no further question reaches Moonshot; ``kimi-bot usage`` prints
the ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core import errors, texts
from core.catalog import load_catalog
from core.limits import DailyLimitExceeded
from core.service import start_services
from core.types import Author, CollectingSink, ConversationKey, Incoming
from emulators.moonshot import Fault, MoonshotEmulator
from storage import COMPLETE, FAILED
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
    settings = make_settings(moonshot.base_url, sqlite_url, budget_user_daily=0.000001)
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


async def test_moonshots_tpd_429_is_told_and_the_next_question_stays_home(  # type: ignore[no-untyped-def]
    moonshot, sqlite_url: str
) -> None:
    services = await start_services(make_settings(moonshot.base_url, sqlite_url))
    daily = texts.text("kimi_daily_limit")
    try:
        moonshot.inject(Fault("tpd_limit"))
        sink = CollectingSink()
        first = await services.assistant.handle(ask(1, "hello"), sink)
        assert first is not None and first.status == FAILED
        assert isinstance(first.error, errors.DailyLimitReached) and first.error.alerts_admins
        assert first.error.model == services.settings.kimi_model
        assert sink.aborted == ("", daily)
        calls = len(moonshot.requests)
        assert calls == 1  # a TPD 429 is not retried

        again = CollectingSink()
        second = await services.assistant.handle(ask(2, "and now?"), again)
        assert len(moonshot.requests) == calls  # refused before Moonshot, for another user too
        assert second is not None and isinstance(second.error, DailyLimitExceeded)
        assert second.error.model == services.settings.kimi_model
        assert again.aborted == ("", daily)
    finally:
        await services.close()


async def test_the_catalogs_tpd_refuses_the_next_question(  # type: ignore[no-untyped-def]
    moonshot, sqlite_url: str, tmp_path: Path
) -> None:
    models = tmp_path / "models.toml"
    models.write_text('[models."kimi-k2"]\ntpd = 1000\n')  # one answer's reservation is more
    settings = make_settings(moonshot.base_url, sqlite_url, kimi_models_file=str(models))
    services = await start_services(settings)
    try:
        first = await services.assistant.handle(ask(1, "hello"), CollectingSink())
        assert first is not None and first.status == COMPLETE  # an empty day lets one pass
        calls = len(moonshot.requests)
        sink = CollectingSink()
        second = await services.assistant.handle(ask(1, "more"), sink)
        assert second is not None and isinstance(second.error, DailyLimitExceeded)
        assert len(moonshot.requests) == calls
        assert sink.aborted == ("", texts.text("kimi_daily_limit"))
    finally:
        await services.close()


def test_usage_command(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bots.cli import main

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["usage", "--since", "all", "--by", "model", "--format", "json"]) == 0
    assert '"rows": []' in capsys.readouterr().out
