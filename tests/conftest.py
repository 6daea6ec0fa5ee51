"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), emulators, engines.

PostgreSQL tests run against ``TEST_POSTGRES_URL`` (``.ci/run`` sets it). Without it they skip
with the reason, so the README's test command passes on a machine with no database server;
with ``KIMI_REQUIRE_SERVICES=1`` (CI) a missing server fails instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.config import Settings, load_settings
from core.service import Services, start_services
from storage import Database

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
REQUIRE_SERVICES = os.environ.get("KIMI_REQUIRE_SERVICES") == "1"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus"
EMULATOR_KEY = "sk-test-emulator-key-0123456789"


def _service_missing(name: str, variable: str) -> None:
    reason = f"{name} tests need {variable} (e.g. set by .ci/run)"
    if REQUIRE_SERVICES:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    if not POSTGRES_URL:
        _service_missing("PostgreSQL", "TEST_POSTGRES_URL")
    import asyncpg

    admin_dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    name = f"kimi_bot_test_{uuid.uuid4().hex[:10]}"

    async def _exec(sql: str) -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(_exec(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url() -> str:
    """``TEST_REDIS_URL``'s database, emptied first (limiter, lock and lease keys)."""
    if not REDIS_URL:
        _service_missing("Redis", "TEST_REDIS_URL")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'kimi.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'kimi.db'}"


async def _clean(db: Database) -> None:
    if db.backend == "postgresql":
        async with db.engine.begin() as connection:
            await connection.execute(
                text(
                    "TRUNCATE conversations, participants, messages, usage_records, "
                    "processed_events, documents, document_sections, library_entries, workers "
                    "RESTART IDENTITY CASCADE"
                )
            )


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.migrate()
    await _clean(database)
    yield database
    await database.close()


@pytest.fixture
async def moonshot() -> AsyncIterator[object]:
    """The Moonshot emulator with account limits off (tests about limits turn them on)."""
    from emulators.moonshot import MoonshotEmulator

    emulator = MoonshotEmulator(api_key=EMULATOR_KEY, enforce_limits=False)
    await emulator.start(host="127.0.0.1", port=0)
    yield emulator
    await emulator.stop()


def make_settings(moonshot_url: str, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "moonshot_api_key": EMULATOR_KEY,
        "moonshot_base_url": moonshot_url,
        "database_url": database_url,
        "kimi_max_retries": 3,
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
async def services(moonshot: object, db_url: str) -> AsyncIterator[Services]:
    settings = make_settings(moonshot.base_url, db_url)  # type: ignore[attr-defined]
    built = await start_services(settings)
    await _clean(built.db)
    yield built
    await built.close()
