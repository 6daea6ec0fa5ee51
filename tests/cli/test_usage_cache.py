"""What Moonshot's prefix cache saved, where users and operators look: ``/usage`` in a chat and
``kimi-bot usage``. The cached tokens come from real turns through the emulator's prefix cache
(or, for the CLI, from ledger rows); the saving is priced from the catalog."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.catalog import builtin_catalog
from core.service import Services, start_services
from core.types import Author, CollectingSink, ConversationKey, Incoming
from storage import Database, UsageEntry
from tests.cli.common import clean_env, kimi_bot
from tests.conftest import clean_database, make_settings
from tests.support.ledger import ledger_row

MODEL = "kimi-k2-0905-preview"  # the catalog prices its cache hits (4.0 in, 1.0 cached per 1M)
UNPRICED = "kimi-k2"  # the product brief's table: input and output prices only
LONG = " ".join(f"word{i}" for i in range(900))  # ~1,200 tokens: several 256-token chunks


async def _services(moonshot: object, db_url: str, model: str) -> AsyncIterator[Services]:
    settings = make_settings(moonshot.base_url, db_url, kimi_model=model, kimi_tools=False)  # type: ignore[attr-defined]
    built = await start_services(settings)
    await clean_database(built.db)
    yield built
    await built.close()


@pytest.fixture
async def cached_services(moonshot: object, db_url: str) -> AsyncIterator[Services]:
    async for built in _services(moonshot, db_url, MODEL):
        yield built


async def say(services: Services, text: str) -> str:
    sink = CollectingSink()
    incoming = Incoming(
        ConversationKey(platform="test", chat="cache"), Author(id="test:1", name="Ada"), text
    )
    await services.assistant.handle(incoming, sink)
    return sink.final or "\n".join(sink.replies)


async def test_usage_shows_cached_and_fresh_tokens_and_what_caching_saved(
    cached_services: Services,
) -> None:
    await say(cached_services, f"Please read this: {LONG}")
    await say(cached_services, "And now a short question.")
    totals = await cached_services.db.usage.totals(user_id="test:1")
    assert totals.cached_tokens > 0, "the second turn repeats the first one's prefix"
    spec = builtin_catalog().get(MODEL)
    saved = totals.cached_tokens * (spec.input_price - spec.cached_input_price) / 1_000_000
    fresh = totals.prompt_tokens - totals.cached_tokens

    text = await say(cached_services, "/usage")

    today = text.splitlines()[1]
    assert today.endswith(
        f"; prompt {totals.cached_tokens:,} cached + {fresh:,} fresh, caching saved ¥{saved:.4f}"
    ), today
    assert saved > 0


@pytest.fixture
async def unpriced_services(moonshot: object, db_url: str) -> AsyncIterator[Services]:
    """The brief's kimi-k2: the catalog has no cache-hit price for it."""
    async for built in _services(moonshot, db_url, UNPRICED):
        yield built


async def test_usage_says_the_saving_is_unknown_without_a_cache_price(
    unpriced_services: Services,
) -> None:
    assert builtin_catalog().get(UNPRICED).cached_input_price is None
    await say(unpriced_services, f"Please read this: {LONG}")
    await say(unpriced_services, "And now a short question.")
    totals = await unpriced_services.db.usage.totals(user_id="test:1")
    assert totals.cached_tokens > 0, "the second turn repeats the first one's prefix"
    fresh = totals.prompt_tokens - totals.cached_tokens

    today = (await say(unpriced_services, "/usage")).splitlines()[1]

    assert today.endswith(
        f"; prompt {totals.cached_tokens:,} cached + {fresh:,} fresh "
        "(the model catalog has no cache-hit price for these calls, so what caching saved "
        "is not known)"
    ), today
    assert "caching saved ¥" not in today


async def test_usage_without_cached_tokens_is_unchanged(cached_services: Services) -> None:
    await say(cached_services, "hello")
    text = await say(cached_services, "/usage")
    assert "cached" not in text and "caching" not in text
    assert re.match(
        r"^Today: \d+ tokens \(\d+ in / \d+ out\), ¥[\d.]+, 1 call$", text.splitlines()[1]
    )


def _entry(model: str, prompt: int, cached: int, currency: str = "CNY") -> UsageEntry:
    spec = builtin_catalog().get(model)
    return ledger_row(
        model=model,
        prompt_tokens=prompt,
        completion_tokens=100,
        cached_tokens=cached,
        cost=spec.cost(prompt, 100, cached),
        currency=currency,
        latency_ms=500,
        first_token_ms=100,
    )


async def _ledger(url: str, entries: list[UsageEntry]) -> None:
    db = Database(url)
    try:
        await db.migrate()
        for entry in entries:
            await db.usage.record_at(entry, datetime(2025, 3, 1, 10, tzinfo=UTC))
    finally:
        await db.close()


def _usage_by_model(tmp_path: Path, *entries: UsageEntry) -> tuple[list[str], dict[str, str]]:
    """``kimi-bot usage --by model`` over a ledger of ``entries`` (a cheap one added): its
    lines, and the environment for more calls."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    asyncio.run(_ledger(url, [*entries, _entry("moonshot-v1-8k", 2_000, 0)]))
    env = clean_env(tmp_path, DATABASE_URL=url, KIMI_TIMEZONE="UTC")
    table = kimi_bot("usage", "--since", "all", "--by", "model", env=env, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    return table.stdout.splitlines(), env


def _usage_json(tmp_path: Path, env: dict[str, str], by: str) -> dict[str, Any]:
    report = kimi_bot(
        "usage", "--since", "all", "--by", by, "--format", "json", env=env, cwd=tmp_path
    )
    return json.loads(report.stdout)


def test_kimi_bot_usage_shows_fresh_tokens_and_the_saving(tmp_path: Path) -> None:
    lines, env = _usage_by_model(tmp_path, _entry(MODEL, 10_000, 8_000), _entry(MODEL, 10_000, 0))
    assert lines[1].split()[-3:] == ["fresh", "cache", "saved"]
    rows = {line.split()[0]: line.split()[-2:] for line in lines[3:5]}
    # 8,000 cached tokens at 4.0 instead of 1.0 per million: ¥0.024 saved
    assert rows[MODEL] == ["12,000", "¥0.0240"]
    assert rows["moonshot-v1-8k"] == ["2,000", "¥0.0000"]
    total = next(line for line in lines if line.startswith("TOTAL"))
    assert total.split()[-2:] == ["14,000", "¥0.0240"]

    data = _usage_json(tmp_path, env, "user")
    assert data["rows"][0]["cache_saved"] == pytest.approx(0.024)
    assert data["rows"][0]["fresh_prompt_tokens"] == 14_000
    assert data["totals"][0]["cache_saved"] == pytest.approx(0.024)


def test_kimi_bot_usage_leaves_an_unpriced_saving_unknown(tmp_path: Path) -> None:
    """Cached tokens of a model without a cache-hit price: "-" (JSON null), not ¥0; the
    total adds what is known."""
    lines, env = _usage_by_model(
        tmp_path, _entry(MODEL, 10_000, 8_000), _entry(UNPRICED, 5_000, 4_000)
    )
    rows = {line.split()[0]: line.split()[-2:] for line in lines[3:6]}
    assert rows[UNPRICED] == ["1,000", "-"]
    assert rows[MODEL] == ["2,000", "¥0.0240"]
    assert rows["moonshot-v1-8k"] == ["2,000", "¥0.0000"]  # nothing cached: nothing saved
    total = next(line for line in lines if line.startswith("TOTAL"))
    assert total.split()[-2:] == ["5,000", "¥0.0240"]

    data = _usage_json(tmp_path, env, "model")
    by_model = {row["model"]: row for row in data["rows"]}
    assert by_model[UNPRICED]["cache_saved"] is None
    assert by_model[MODEL]["cache_saved"] == pytest.approx(0.024)
    assert data["totals"][0]["cache_saved"] == pytest.approx(0.024)
