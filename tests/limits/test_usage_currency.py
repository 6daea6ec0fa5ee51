"""Costs in the account's currency and ``$web_search`` fees in the ledger: rows built from real
completions (the openai SDK against the Moonshot emulator), totals on SQLite and PostgreSQL, the
``/usage`` text, ``kimi-bot usage`` — and CNY and USD never added together."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from core.catalog import Catalog, builtin_catalog
from core.config import Settings
from core.kimi import Completion, KimiClient
from core.ledger import usage_entry
from core.service import Services, start_services
from core.tokens import TokenEstimator
from core.types import Author, CollectingSink, ConversationKey, Incoming
from core.usage_cli import configure_parser, render_usage, run_usage_command
from core.usage_report import format_periods, format_totals, money, usage_periods
from storage import ConversationRecord, Database, UsageEntry
from tests.conftest import EMULATOR_KEY, make_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
KEY = ConversationKey(platform="telegram", chat="100")
ALICE = Author(id="telegram:1", name="Alice")
CONVERSATION = ConversationRecord(
    id=7, key=KEY, generation=1, is_group=False, model=None, system_prompt=None
)
SEARCH_TOOLS = [{"type": "builtin_function", "function": {"name": "$web_search"}}]
USD = Settings(moonshot_base_url="https://api.moonshot.ai/v1", _env_file=None).catalog  # type: ignore[call-arg]


async def completion(moonshot: object, text: str, catalog: Catalog) -> Completion:
    client = KimiClient(api_key=EMULATOR_KEY, base_url=moonshot.base_url)  # type: ignore[attr-defined]
    try:
        return await client.stream(
            model=catalog.get("kimi-k2"),
            messages=[{"role": "user", "content": text}],
            max_tokens=256,
            tools=SEARCH_TOOLS,
        )
    finally:
        await client.close()


def row(completion: Completion, catalog: Catalog) -> UsageEntry:
    return usage_entry(
        completion,
        catalog.get("kimi-k2"),
        CONVERSATION,
        Incoming(key=KEY, author=ALICE, text="q"),
        None,
        10,
        TokenEstimator(),
        catalog=catalog,
    )


# --- the ledger row of one completion --------------------------------------------------------------


async def test_a_web_search_call_pays_the_catalogs_fee_on_top_of_its_tokens(moonshot) -> None:  # type: ignore[no-untyped-def]
    cny = builtin_catalog()
    asked = await completion(moonshot, "search the latest AI news", cny)
    assert [call.name for call in asked.tool_calls] == ["$web_search"]
    assert asked.usage is not None and asked.usage.prompt_tokens > 0
    tokens = (asked.usage.prompt_tokens, asked.usage.completion_tokens, asked.usage.cached_tokens)

    entry = row(asked, cny)
    assert (entry.currency, entry.web_searches) == ("CNY", 1)
    assert entry.tool_fees == pytest.approx(0.03)
    assert entry.cost == pytest.approx(cny.get("kimi-k2").cost(*tokens) + 0.03)
    assert (entry.user_id, entry.chat_key, entry.conversation_id) == (
        "telegram:1",
        "telegram:100",
        7,
    )

    # The same call on an api.moonshot.ai account: USD prices and the USD fee.
    dollars = row(asked, USD)
    assert (dollars.currency, dollars.web_searches) == ("USD", 1)
    assert dollars.tool_fees == pytest.approx(0.005)
    assert dollars.cost == pytest.approx((tokens[0] * 0.6 + tokens[1] * 2.5) / 1e6 + 0.005)
    assert dollars.cost < entry.cost


async def test_a_plain_answer_pays_tokens_only(moonshot) -> None:  # type: ignore[no-untyped-def]
    answer = await completion(moonshot, "hello there", builtin_catalog())
    assert answer.tool_calls == []
    entry = row(answer, builtin_catalog())
    assert (entry.web_searches, entry.tool_fees) == (0, 0.0)
    assert answer.usage is not None
    assert entry.cost == pytest.approx(
        builtin_catalog()
        .get("kimi-k2")
        .cost(answer.usage.prompt_tokens, answer.usage.completion_tokens)
    )


def test_each_search_of_a_completion_pays_and_other_tools_do_not() -> None:
    from core.kimi import ToolCall, Usage

    calls = [
        ToolCall(id="a", name="$web_search", arguments="{}"),
        ToolCall(id="b", name="read_url", arguments="{}"),
        ToolCall(id="c", name="$web_search", arguments="{}"),
    ]
    done = Completion(tool_calls=calls, usage=Usage(prompt_tokens=1_000_000, completion_tokens=0))
    entry = row(done, builtin_catalog())
    assert (entry.web_searches, entry.tool_fees) == (2, pytest.approx(0.06))
    assert entry.cost == pytest.approx(12.0 + 0.06)


# --- totals, /usage and kimi-bot usage ---------------------------------------------------------------


def spent(
    user: str, model: str, cost: float, currency: str = "CNY", searches: int = 0, fee: float = 0.0
) -> UsageEntry:
    return UsageEntry(
        model=model,
        prompt_tokens=1000,
        completion_tokens=100,
        cached_tokens=0,
        cost=cost,
        currency=currency,
        latency_ms=1000,
        first_token_ms=None,
        user_id=user,
        platform=user.split(":")[0],
        chat_key="telegram:100",
        conversation_id=None,
        message_id=None,
        tool_fees=fee,
        web_searches=searches,
    )


NOW = datetime(2025, 3, 15, 10, tzinfo=UTC)  # 18:00 on 15 March in Shanghai
LEDGER = [
    (datetime(2025, 3, 15, 2, tzinfo=UTC), spent("telegram:1", "kimi-k2", 0.1, searches=1, fee=0.03)),
    (datetime(2025, 3, 15, 3, tzinfo=UTC), spent("telegram:1", "kimi-k2", 0.2, searches=2, fee=0.06)),
    (datetime(2025, 3, 15, 4, tzinfo=UTC), spent("telegram:1", "moonshot-v1-8k", 0.05)),
    # Later the bot moved to api.moonshot.ai.
    (datetime(2025, 3, 15, 5, tzinfo=UTC), spent("telegram:1", "kimi-k2", 0.015, "USD", 1, 0.005)),
    (datetime(2025, 3, 15, 6, tzinfo=UTC), spent("slack:U2", "kimi-k2", 0.01, "USD")),
]  # fmt: skip


async def fill(db: Database) -> None:
    for created, entry in LEDGER:
        await db.usage.record_at(entry, created)


async def test_totals_keep_each_currency_apart(db: Database) -> None:
    await fill(db)
    alice = await db.usage.totals(user_id="telegram:1")
    assert alice.calls == 4
    assert dict(alice.costs) == {"CNY": pytest.approx(0.35), "USD": pytest.approx(0.015)}
    assert dict(alice.tool_fees) == {"CNY": pytest.approx(0.09), "USD": pytest.approx(0.005)}
    assert alice.web_searches == 4
    assert alice.cost("CNY") == pytest.approx(0.35) and alice.cost("EUR") == 0.0
    bob = await db.usage.totals(user_id="slack:U2")
    assert dict(bob.costs) == {"USD": pytest.approx(0.01)} and bob.web_searches == 0
    nobody = await db.usage.totals(user_id="nobody")
    assert (nobody.calls, dict(nobody.costs), nobody.web_searches) == (0, {}, 0)


async def test_usage_text_shows_each_currency_and_the_web_searches(db: Database) -> None:
    await fill(db)
    periods = await usage_periods(db, NOW, SHANGHAI, user_id="telegram:1")
    text = format_periods("Your usage:", periods, "en", "CNY")
    assert text.splitlines()[1] == (
        "Today: 4,400 tokens (4,000 in / 400 out), ¥0.3500 + $0.0150, 4 calls, "
        "web searches: 4 (fee ¥0.0900 + $0.0050)"
    )
    chinese = format_totals("今天", periods.today, "zh", "CNY")
    assert chinese == (
        "今天：4,400 个 token（输入 4,000 / 输出 400），¥0.3500 + $0.0150，4 次调用，"
        "联网搜索：4 次（费用 ¥0.0900 + $0.0050）"
    )
    bob = await usage_periods(db, NOW, SHANGHAI, user_id="slack:U2")
    assert format_totals("Today", bob.today) == (
        "Today: 1,100 tokens (1,000 in / 100 out), $0.0100, 1 call"
    ), "no searches: no search part"
    nothing = await usage_periods(db, NOW, SHANGHAI, user_id="nobody")
    assert format_totals("Today", nothing.today, currency="USD") == (
        "Today: 0 tokens (0 in / 0 out), $0.0000, 0 calls"
    )


def test_money_uses_the_sign_or_the_code() -> None:
    assert (money(1.5, "CNY"), money(1.5, "USD", 2), money(1, "EUR", 1)) == (
        "¥1.5000",
        "$1.50",
        "EUR 1.0",
    )


async def test_the_report_has_a_row_and_a_total_per_currency(db: Database) -> None:
    await fill(db)
    rows = await db.usage.report(by="model", tz=SHANGHAI)
    assert [(r.key, r.currency, r.calls, r.web_searches) for r in rows] == [
        ("kimi-k2", "CNY", 2, 3),
        ("moonshot-v1-8k", "CNY", 1, 0),
        ("kimi-k2", "USD", 2, 1),
    ]
    assert [round(r.cost, 9) for r in rows] == [0.3, 0.05, 0.025]
    assert [round(r.tool_fees, 9) for r in rows] == [0.09, 0.0, 0.005]
    days = await db.usage.report(by="day", tz=SHANGHAI)
    assert [(d.key, d.currency, d.calls, round(d.cost, 9)) for d in days] == [
        ("2025-03-15", "CNY", 3, 0.35),
        ("2025-03-15", "USD", 2, 0.025),
    ]
    table = render_usage(rows, by="model").splitlines()
    assert table[1].split() == [
        "model", "calls", "prompt", "completion", "cached", "total", "cost", "searches", "avg",
        "ms", "1st", "token", "ms",
    ]  # fmt: skip
    assert table[3].split()[:8] == ["kimi-k2", "2", "2,000", "200", "0", "2,200", "¥0.3000", "3"]
    assert table[5].split()[:8] == ["kimi-k2", "2", "2,000", "200", "0", "2,200", "$0.0250", "1"]
    assert table[7].split()[:9] == [
        "TOTAL",
        "CNY",
        "3",
        "3,000",
        "300",
        "0",
        "3,300",
        "¥0.3500",
        "3",
    ]
    assert table[8].split()[:9] == [
        "TOTAL",
        "USD",
        "2",
        "2,000",
        "200",
        "0",
        "2,200",
        "$0.0250",
        "1",
    ]
    assert table[9:] == ["web searches: 3 (fee ¥0.0900)", "web searches: 1 (fee $0.0050)"]
    data = json.loads(render_usage(rows, by="model", fmt="json"))
    assert [(t["currency"], t["calls"], t["cost"], t["web_searches"], t["tool_fees"]) for t in data["totals"]] == [
        ("CNY", 3, 0.35, 3, 0.09),
        ("USD", 2, 0.025, 1, 0.005),
    ]  # fmt: skip
    single = render_usage(rows[:2], by="model").splitlines()
    assert single[-2].split()[:2] == ["TOTAL", "3"], "one currency: a plain TOTAL"
    assert single[-1] == "web searches: 3 (fee ¥0.0900)"


async def test_kimi_bot_usage_prints_currencies_and_web_searches(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = Database(sqlite_url)
    await db.migrate()
    await fill(db)
    await db.close()
    settings = SimpleNamespace(database_url=sqlite_url, kimi_timezone="Asia/Shanghai")
    args = configure_parser(argparse.ArgumentParser()).parse_args(
        ["--since", "all", "--by", "user"]
    )
    assert await run_usage_command(settings, args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == ["web searches: 3 (fee ¥0.0900)", "web searches: 1 (fee $0.0050)"]
    assert [line.split()[:2] for line in out if line.startswith("TOTAL")] == [
        ["TOTAL", "CNY"],
        ["TOTAL", "USD"],
    ]
    assert any(line.startswith("slack:U2") and "$0.0100" in line for line in out)


# --- a whole turn: the assistant's ledger and /usage ---------------------------------------------------


@pytest.fixture
async def usd_services(moonshot, tmp_path: Path, sqlite_url: str) -> AsyncIterator[Services]:  # type: ignore[no-untyped-def]
    """An account that bills in USD behind a URL that does not say so (the file says it)."""
    models = tmp_path / "models.toml"
    models.write_text('currency = "USD"\n', encoding="utf-8")
    settings = make_settings(moonshot.base_url, sqlite_url, kimi_models_file=str(models))
    built = await start_services(settings)
    yield built
    await built.close()


async def test_a_searching_turn_is_billed_its_fee_and_usage_says_so(services, moonshot) -> None:  # type: ignore[no-untyped-def]
    author = Author(id="cli:searcher", name="S")
    key = ConversationKey(platform="cli", chat="fees")
    outcome = await services.assistant.handle(
        Incoming(key=key, author=author, text="search the latest AI news"), CollectingSink()
    )
    assert outcome is not None and outcome.status == "complete"
    totals = await services.db.usage.totals(user_id=author.id)
    assert totals.calls == 2, "the call that asked to search and the one that answered"
    assert (totals.web_searches, dict(totals.tool_fees)) == (1, {"CNY": pytest.approx(0.03)})
    assert totals.cost("CNY") > 0.03
    sink = CollectingSink()
    await services.assistant.handle(Incoming(key=key, author=author, text="/usage"), sink)
    assert "web searches: 1 (fee ¥0.0300)" in sink.replies[-1]
    assert "¥" in sink.replies[-1] and "$" not in sink.replies[-1]


async def test_a_usd_account_records_and_shows_dollars(usd_services, moonshot) -> None:  # type: ignore[no-untyped-def]
    author = Author(id="cli:dollar", name="D")
    key = ConversationKey(platform="cli", chat="usd")
    before = CollectingSink()
    await usd_services.assistant.handle(Incoming(key=key, author=author, text="/usage"), before)
    assert "Today: 0 tokens (0 in / 0 out), $0.0000, 0 calls" in before.replies[-1]
    await usd_services.assistant.handle(
        Incoming(key=key, author=author, text="search the latest AI news"), CollectingSink()
    )
    totals = await usd_services.db.usage.totals(user_id=author.id)
    assert set(totals.costs) == {"USD"}
    assert (totals.web_searches, dict(totals.tool_fees)) == (1, {"USD": pytest.approx(0.005)})
    expected = (totals.prompt_tokens * 0.6 + totals.completion_tokens * 2.5) / 1e6 + 0.005
    assert totals.cost("USD") == pytest.approx(expected)
    sink = CollectingSink()
    await usd_services.assistant.handle(Incoming(key=key, author=author, text="/usage"), sink)
    assert "web searches: 1 (fee $0.0050)" in sink.replies[-1]
    assert "¥" not in sink.replies[-1]
    await usd_services.assistant.handle(Incoming(key=key, author=author, text="/model"), sink)
    assert "kimi-k2: 128K context, $0.6/$2.5 per 1M tokens in/out" in sink.replies[-1]
    assert "¥" not in sink.replies[-1]
