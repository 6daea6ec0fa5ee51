"""Migration 0007 on a ledger written by the previous release (``cost_cny``), on SQLite and on a
PostgreSQL database of its own: the amounts are kept as CNY costs, the new columns have their
defaults, new rows carry currency and fees, and the downgrade gives ``cost_cny`` back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text

from storage import Database, UsageEntry
from storage.migrate import alembic_config, current_revision, head_revision, upgrade

OLD_ROWS = [
    # user, model, prompt, completion, cost_cny, created (UTC)
    ("telegram:1", "kimi-k2", 1000, 500, 0.03, datetime(2025, 3, 1, 10, tzinfo=UTC)),
    ("telegram:1", "moonshot-v1-8k", 3000, 1000, 0.024, datetime(2025, 3, 2, 3, tzinfo=UTC)),
    ("slack:U2", "kimi-k2", 100, 100, 0.0048, datetime(2025, 3, 2, 4, tzinfo=UTC)),
]


async def _old_ledger(db: Database) -> None:
    """The schema of release 0006 with rows its workers wrote."""
    await upgrade(db.engine, "0006")
    async with db.engine.begin() as connection:
        for user, model, prompt, completion, cost, created in OLD_ROWS:
            await connection.execute(
                text(
                    "INSERT INTO usage_records (user_id, platform, chat_key, model, prompt_tokens,"
                    " completion_tokens, cached_tokens, cost_cny, latency_ms, created_at) VALUES"
                    " (:user, :platform, :chat, :model, :prompt, :completion, 0, :cost, 100,"
                    " :created)"
                ),
                {
                    "user": user,
                    "platform": user.split(":")[0],
                    "chat": user,
                    "model": model,
                    "prompt": prompt,
                    "completion": completion,
                    "cost": cost,
                    "created": created,
                },
            )


async def _columns(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("usage_records")}
        )


async def _indexes(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: {i["name"] for i in inspect(sync).get_indexes("usage_records")}
        )


async def _downgrade(db: Database, revision: str) -> None:
    def _run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with db.engine.begin() as connection:
        await connection.run_sync(_run)


async def test_0007_keeps_the_old_costs_as_cny_and_adds_currency_and_fees(fresh_url: str) -> None:
    db = Database(fresh_url)
    try:
        await _old_ledger(db)
        assert "cost_cny" in await _columns(db)

        await db.migrate()
        assert await current_revision(db.engine) == head_revision()  # 0007 and later
        columns = await _columns(db)
        # Additive: the amount keeps its column, so the previous release can still write.
        assert {"cost_cny", "currency", "tool_fees", "web_searches"} <= columns
        # SQLite rebuilds the table: its indexes must come back with it.
        assert {"ix_usage_user_created", "ix_usage_created", "ix_usage_conversation"} <= (
            await _indexes(db)
        )

        totals = await db.usage.totals()
        assert totals.calls == 3
        assert dict(totals.costs) == {"CNY": pytest.approx(0.0588)}
        assert dict(totals.tool_fees) == {"CNY": 0.0}
        assert totals.web_searches == 0
        alice = await db.usage.totals(user_id="telegram:1")
        assert alice.cost("CNY") == pytest.approx(0.054)
        by_model = await db.usage.report(by="model")
        assert [(r.key, r.currency, round(r.cost, 9)) for r in by_model] == [
            ("kimi-k2", "CNY", 0.0348),
            ("moonshot-v1-8k", "CNY", 0.024),
        ]

        # The new release writes its own rows beside the old ones.
        await db.usage.record(
            UsageEntry(
                model="kimi-k2",
                prompt_tokens=1_000_000,
                completion_tokens=0,
                cached_tokens=0,
                cost=0.605,
                currency="USD",
                latency_ms=1,
                first_token_ms=None,
                user_id="telegram:1",
                platform="telegram",
                chat_key="telegram:1",
                conversation_id=None,
                message_id=None,
                tool_fees=0.005,
                web_searches=1,
            )
        )
        after = await db.usage.totals(user_id="telegram:1")
        assert dict(after.costs) == {"CNY": pytest.approx(0.054), "USD": pytest.approx(0.605)}
        assert dict(after.tool_fees) == {"CNY": 0.0, "USD": pytest.approx(0.005)}
        assert after.web_searches == 1

        await _downgrade(db, "0006")
        columns = await _columns(db)
        assert "cost_cny" in columns and "currency" not in columns
        async with db.engine.connect() as connection:
            kept = (
                await connection.execute(text("SELECT SUM(cost_cny) FROM usage_records"))
            ).scalar_one()
        assert kept == pytest.approx(0.0588 + 0.605)
    finally:
        await db.close()
