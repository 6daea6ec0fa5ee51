"""``kimi-bot usage``: aggregation on SQLite and PostgreSQL, and the table/CSV/JSON output, with
exact numbers from known ledger rows (days are calendar days in Asia/Shanghai); costs in the
currency each row was billed in, web-search fees included and shown."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from core.catalog import builtin_catalog
from core.usage_cli import configure_parser, parse_since, render_usage, run_usage_command
from storage import Database, UsageEntry

SHANGHAI = ZoneInfo("Asia/Shanghai")
CATALOG = builtin_catalog()


def entry(user: str, chat: str, model: str, prompt: int, completion: int, **extra) -> UsageEntry:  # type: ignore[no-untyped-def]
    cached = extra.get("cached", 0)
    return UsageEntry(
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cost=CATALOG.get(model).cost(prompt, completion, cached),
        currency="CNY",
        latency_ms=extra["latency"],
        first_token_ms=extra.get("first"),
        user_id=user,
        platform=user.split(":")[0],
        chat_key=chat,
        conversation_id=None,
        message_id=None,
    )


ROWS = [
    # Before the report's start (2025-03-01 00:00 in Shanghai = 2025-02-28 16:00 UTC).
    (datetime(2025, 2, 28, 12, tzinfo=UTC), entry("telegram:1", "telegram:100", "kimi-k2", 100, 100, latency=500)),
    # 18:00 on 1 March in Shanghai.
    (datetime(2025, 3, 1, 10, tzinfo=UTC), entry("telegram:1", "telegram:100", "kimi-k2", 1000, 500, cached=200, latency=1000, first=200)),
    # 01:00 on 2 March in Shanghai (still 1 March in UTC).
    (datetime(2025, 3, 1, 17, tzinfo=UTC), entry("telegram:1", "telegram:100", "kimi-k2", 2000, 1000, latency=3000, first=400)),
    (datetime(2025, 3, 2, 3, tzinfo=UTC), entry("slack:U2", "slack:T1:C9", "moonshot-v1-8k", 3000, 1000, latency=2000)),
]  # fmt: skip
SINCE = datetime(2025, 3, 1, tzinfo=SHANGHAI)


async def fill(db: Database) -> None:
    for created, row in ROWS:
        await db.usage.record_at(row, created)


def test_costs_come_from_the_catalog_prices() -> None:
    # 1000 prompt (200 cached at the input price, no cache price in the brief) + 500 out.
    assert ROWS[1][1].cost == pytest.approx((1000 * 12 + 500 * 36) / 1e6)
    assert ROWS[3][1].cost == pytest.approx((3000 * 4 + 1000 * 12) / 1e6)


async def test_report_by_user(db: Database) -> None:
    await fill(db)
    rows = await db.usage.report(by="user", since=SINCE, tz=SHANGHAI)
    assert [(r.key, r.calls, r.prompt_tokens, r.completion_tokens, r.cached_tokens) for r in rows] == [
        ("telegram:1", 2, 3000, 1500, 200),
        ("slack:U2", 1, 3000, 1000, 0),
    ]  # fmt: skip
    assert [round(r.cost, 9) for r in rows] == [0.09, 0.024]
    assert [(r.avg_latency_ms, r.avg_first_token_ms) for r in rows] == [(2000, 300), (2000, None)]
    assert {r.currency for r in rows} == {"CNY"}
    assert [(r.web_searches, r.tool_fees) for r in rows] == [(0, 0.0), (0, 0.0)]


async def test_report_by_day_uses_the_operators_time_zone(db: Database) -> None:
    await fill(db)
    rows = await db.usage.report(by="day", since=SINCE, tz=SHANGHAI)
    assert [(r.key, r.calls, r.prompt_tokens, r.completion_tokens) for r in rows] == [
        ("2025-03-01", 1, 1000, 500),
        ("2025-03-02", 2, 5000, 2000),
    ]
    assert [round(r.cost, 9) for r in rows] == [0.03, 0.084]
    assert [(r.avg_latency_ms, r.avg_first_token_ms) for r in rows] == [(1000, 200), (2500, 400)]
    utc_rows = await db.usage.report(by="day", tz=UTC)
    assert [(r.key, r.calls) for r in utc_rows] == [
        ("2025-02-28", 1),
        ("2025-03-01", 2),
        ("2025-03-02", 1),
    ]


async def test_report_by_model_and_chat(db: Database) -> None:
    await fill(db)
    by_model = await db.usage.report(by="model", since=SINCE, tz=SHANGHAI)
    assert [(r.key, r.calls, round(r.cost, 9)) for r in by_model] == [
        ("kimi-k2", 2, 0.09),
        ("moonshot-v1-8k", 1, 0.024),
    ]
    by_chat = await db.usage.report(by="chat", tz=SHANGHAI)  # all time
    assert [(r.key, r.calls, round(r.cost, 9)) for r in by_chat] == [
        ("telegram:100", 3, 0.0948),
        ("slack:T1:C9", 1, 0.024),
    ]
    until = await db.usage.report(by="user", until=SINCE, tz=SHANGHAI)
    assert [(r.key, r.calls) for r in until] == [("telegram:1", 1)]
    with pytest.raises(ValueError):
        await db.usage.report(by="week")


async def test_rendered_table_csv_and_json(db: Database) -> None:
    await fill(db)
    rows = await db.usage.report(by="user", since=SINCE, tz=SHANGHAI)
    table = render_usage(rows, by="user", fmt="table", since=SINCE)
    assert table == "\n".join(
        [
            "Usage since 2025-03-01 00:00 CST",
            "user        calls  prompt  completion  cached  total     cost  searches  avg ms  1st token ms",
            "----------  -----  ------  ----------  ------  -----  -------  --------  ------  ------------",
            "telegram:1      2   3,000       1,500     200  4,500  ¥0.0900         0   2,000           300",
            "slack:U2        1   3,000       1,000       0  4,000  ¥0.0240         0   2,000             -",
            "----------  -----  ------  ----------  ------  -----  -------  --------  ------  ------------",
            "TOTAL           3   6,000       2,500     200  8,500  ¥0.1140         0   2,000           300",
        ]
    )  # fmt: skip
    csv_text = render_usage(rows, by="user", fmt="csv")
    assert csv_text == (
        "user,calls,prompt_tokens,completion_tokens,cached_tokens,total_tokens,cost,currency,"
        "web_searches,tool_fees,avg_latency_ms,avg_first_token_ms\n"
        "telegram:1,2,3000,1500,200,4500,0.09,CNY,0,0.0,2000.0,300.0\n"
        "slack:U2,1,3000,1000,0,4000,0.024,CNY,0,0.0,2000.0,\n"
    )
    data = json.loads(render_usage(rows, by="user", fmt="json", since=SINCE))
    assert data["by"] == "user" and data["since"] == "2025-03-01T00:00:00+08:00"
    assert data["rows"][1] == {
        "user": "slack:U2",
        "calls": 1,
        "prompt_tokens": 3000,
        "completion_tokens": 1000,
        "cached_tokens": 0,
        "total_tokens": 4000,
        "cost": 0.024,
        "currency": "CNY",
        "web_searches": 0,
        "tool_fees": 0.0,
        "avg_latency_ms": 2000.0,
        "avg_first_token_ms": None,
    }
    [total] = data["totals"]
    assert (total["calls"], total["cost"], total["currency"]) == (3, 0.114, "CNY")
    assert render_usage([], by="day", fmt="table") == "Usage since the beginning\n(no calls)"
    assert json.loads(render_usage([], by="day", fmt="json"))["totals"] == []


def test_since_values() -> None:
    now = datetime(2025, 3, 10, 2, tzinfo=UTC)  # 10:00 on 10 March in Shanghai
    assert parse_since("7d", now, SHANGHAI) == datetime(2025, 3, 4, tzinfo=SHANGHAI)
    assert parse_since("1d", now, SHANGHAI) == datetime(2025, 3, 10, tzinfo=SHANGHAI)
    assert parse_since("today", now, SHANGHAI) == datetime(2025, 3, 10, tzinfo=SHANGHAI)
    assert parse_since("30d", now, UTC) == datetime(2025, 2, 9, tzinfo=UTC)
    assert parse_since("2025-01-31", now, SHANGHAI) == datetime(2025, 1, 31, tzinfo=SHANGHAI)
    assert parse_since("all", now, SHANGHAI) is None
    for bad in ("yesterday", "0d", "2025-13-01", "7w"):
        with pytest.raises(ValueError, match="--since"):
            parse_since(bad, now, SHANGHAI)


async def test_the_command_prints_the_report(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = Database(sqlite_url)
    await db.migrate()
    await fill(db)
    await db.close()
    settings = SimpleNamespace(database_url=sqlite_url, kimi_timezone="Asia/Shanghai")
    parser = configure_parser(argparse.ArgumentParser())
    args = parser.parse_args(["--since", "2025-03-01", "--by", "model", "--format", "csv"])
    assert await run_usage_command(settings, args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(",thumbs_up,thumbs_down"), "--by model adds the feedback counts"
    assert out[1] == "kimi-k2,2,3000,1500,200,4500,0.09,CNY,0,0.0,2000.0,300.0,0,0"
    assert out[2] == "moonshot-v1-8k,1,3000,1000,0,4000,0.024,CNY,0,0.0,2000.0,,0,0"
    assert parser.parse_args([]).since == "30d"
    bad = parser.parse_args(["--since", "soon"])
    assert await run_usage_command(settings, bad) == 2
    assert "--since" in capsys.readouterr().err
