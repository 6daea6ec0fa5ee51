"""``kimi-bot usage`` as an operator runs it: a ledger with CNY rows, USD rows and web searches
prints each amount with its currency, a total per currency and the web-search fees."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from storage import Database, UsageEntry
from tests.cli.common import clean_env, kimi_bot
from tests.support.ledger import ledger_row


def _entry(model: str, cost: float, currency: str, searches: int, fee: float) -> UsageEntry:
    return ledger_row(
        model=model, cost=cost, currency=currency, tool_fees=fee, web_searches=searches
    )


async def _ledger(url: str) -> None:
    db = Database(url)
    try:
        await db.migrate()
        when = datetime(2025, 3, 1, 10, tzinfo=UTC)
        await db.usage.record_at(_entry("kimi-k2", 0.072, "CNY", 2, 0.06), when)
        await db.usage.record_at(_entry("moonshot-v1-8k", 0.014, "CNY", 0, 0.0), when)
        await db.usage.record_at(_entry("kimi-k2", 0.0075, "USD", 1, 0.005), when)
    finally:
        await db.close()


def test_usage_shows_currencies_totals_and_web_search_fees(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    asyncio.run(_ledger(url))
    env = clean_env(tmp_path, DATABASE_URL=url, KIMI_TIMEZONE="Asia/Shanghai")

    table = kimi_bot("usage", "--since", "all", "--by", "model", env=env, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "Usage since the beginning"
    rows = {(line.split()[0], line.split()[6]) for line in lines[3:6]}
    assert rows == {("kimi-k2", "¥0.0720"), ("moonshot-v1-8k", "¥0.0140"), ("kimi-k2", "$0.0075")}
    totals = [[*line.split()[:2], line.split()[7]] for line in lines if line.startswith("TOTAL")]
    assert totals == [["TOTAL", "CNY", "¥0.0860"], ["TOTAL", "USD", "$0.0075"]]
    assert lines[-2:] == ["web searches: 2 (fee ¥0.0600)", "web searches: 1 (fee $0.0050)"]

    data = kimi_bot(
        "usage", "--since", "all", "--by", "model", "--format", "json", env=env, cwd=tmp_path
    )
    assert data.returncode == 0, data.stderr
    report = json.loads(data.stdout)
    assert [(t["currency"], t["cost"], t["web_searches"], t["tool_fees"]) for t in report["totals"]] == [
        ("CNY", 0.086, 2, 0.06),
        ("USD", 0.0075, 1, 0.005),
    ]  # fmt: skip
