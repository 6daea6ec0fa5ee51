"""The console's tables on SQLite and PostgreSQL: migration 0012 matches the models and can be
undone, a one-time link is spent once even when several workers race for it, and the settings'
rows round-trip."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, inspect, select

from core.admin_settings import AdminSettings
from storage import Database
from storage.admin import AdminRepository
from storage.migrate import alembic_config
from storage.models import AdminLink, Base

TABLES = {"admin_links", "user_budgets", "access_entries", "admin_audit"}


async def test_0012_matches_the_models_and_can_be_undone(fresh_url: str) -> None:
    db = Database(fresh_url)
    try:
        await db.migrate()

        def drift(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection)
            return [
                change
                for change in compare_metadata(context, Base.metadata)
                if any(table in repr(change) for table in TABLES)
            ]

        async with db.engine.connect() as connection:
            assert await connection.run_sync(drift) == []

        def downgrade(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0011")

        async with db.engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with db.engine.connect() as connection:
            names = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        assert not names & TABLES
        await db.migrate()
        async with db.engine.connect() as connection:
            names = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        assert names >= TABLES
    finally:
        await db.close()


async def test_a_link_raced_by_several_workers_is_spent_once(db_url: str) -> None:
    workers = [Database(db_url) for _ in range(4)]
    try:
        await workers[0].migrate()
        consoles = [AdminSettings(AdminRepository(w.engine)) for w in workers]
        token = await consoles[0].issue_link("telegram:42")
        won = await asyncio.gather(*(c.redeem_link(token) for c in consoles for _ in range(3)))
        assert won.count("telegram:42") == 1
        assert won.count(None) == len(won) - 1
    finally:
        for worker in workers:
            await worker.close()


async def test_settings_rows_round_trip(db: Database) -> None:
    repository = AdminRepository(db.engine)
    admin = AdminSettings(repository)
    assert await admin.set_budget(" telegram:1 ", "1.5", "", by="token") is not None
    await admin.set_budget("telegram:1", "", "30", by="telegram:42")  # replaces the row
    [row] = (await admin.state()).budgets
    assert (row.user_id, row.daily, row.monthly, row.updated_by) == (
        "telegram:1",
        None,
        30.0,
        "telegram:42",
    )
    assert await admin.set_budget("telegram:1", "", "", by="token") is None
    assert (await admin.state()).budgets == []

    assert await admin.add_access("chat", "slack:T1:C9", by="token")
    assert not await admin.add_access("chat", "slack:T1:C9", by="token"), "listed already"
    assert await admin.remove_access("chat", "slack:T1:C9")
    assert not await admin.remove_access("chat", "slack:T1:C9")

    for n in range(5):
        await admin.audit("token", "budget set", f"change {n}")
    newest = await admin.audit_log(limit=2)
    assert [r.detail for r in newest] == ["change 4", "change 3"]
    older = await admin.audit_log(limit=10, before=newest[-1].id)
    assert [r.detail for r in older] == ["change 2", "change 1", "change 0"]


async def test_spent_and_expired_links_are_cleared_after_a_day(db: Database) -> None:
    admin = AdminSettings(AdminRepository(db.engine))
    long_ago = datetime.now(UTC) - timedelta(days=2)
    old = await admin.issue_link("telegram:42", now=long_ago)
    await admin.issue_link("telegram:42")  # adding a link clears the long-expired ones
    async with db.engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(AdminLink))
    assert count == 1
    assert await admin.redeem_link(old) is None
