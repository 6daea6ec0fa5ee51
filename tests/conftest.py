"""Shared fixtures: databases (SQLite always, PostgreSQL and Redis when there is one), emulators,
engines, and the optional real-document corpus.

Services. PostgreSQL tests use ``TEST_POSTGRES_URL`` and Redis tests ``TEST_REDIS_URL`` when they
are set (``.ci/run`` sets both). When they are not, the suite looks once per session, with short
timeouts, for a server at the default local port:

- PostgreSQL at 127.0.0.1:5432, as ``$PGUSER`` (else ``postgres``, then the OS user), on database
  ``postgres`` or ``test``. Tests get a throwaway ``kimi_bot_test_<random>`` database (scaling
  tests ``kimi_scaling_<random>``), dropped at the end; no other database is touched.
- Redis at 127.0.0.1:6379, logical database 15, only if that database is empty or already carries
  our marker key ``kimi-bot:test-db`` (set on first use): Redis tests flush the database, so one
  holding anybody else's keys is never used.

A service that is not found skips its tests with one reason (e.g. "PostgreSQL not reachable at
127.0.0.1:5432 (set TEST_POSTGRES_URL)"), so the README's test command passes on a machine with
no server; with ``KIMI_REQUIRE_SERVICES=1`` (CI) a missing service fails instead of skipping.

Real documents. Tests of the document formats run on files the tests make themselves
(``tests/documents/samples.py``). Third-party documents are an extra layer: the ``corpus`` fixture
is the folder named by ``KIMI_TEST_CORPUS``, else the repository's sibling ``shared/corpus``; when
neither exists, the tests that use it skip with one reason.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import getpass
import os
import socket
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import pytest

from core.config import Settings, load_settings
from core.service import Services, start_services
from storage import Database
from tests.support.database import clean_database

ROOT = Path(__file__).resolve().parents[1]
REQUIRE_SERVICES = os.environ.get("KIMI_REQUIRE_SERVICES") == "1"
EMULATOR_KEY = "sk-test-emulator-key-0123456789"

POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
POSTGRES_DATABASES = ("postgres", "test")
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 15
REDIS_MARKER = "kimi-bot:test-db"
REDIS_MARKER_VALUE = "kimi-bot's test suite owns this database and flushes it"
PROBE_TIMEOUT = 2.0

# `kimi-bot run` runs on uvloop (core.event_loop); these modules' tests run twice, on asyncio's
# own loop and on uvloop, so the adapters, the engine and the write line are tested on both. The
# rest run on asyncio's loop only (a second run of everything would double the suite's time);
# the tests that start `kimi-bot run` itself (workers, the web chat's demo server, the CLI) are
# on uvloop already.
BOTH_LOOPS = frozenset(
    {
        "tests/e2e/test_assistant.py",
        "tests/telegram/test_private.py",
        "tests/slack/test_streaming.py",
        "tests/storage/test_write_gate.py",
    }
)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """pytest-asyncio's hook: the event loops an async test runs on (see :data:`BOTH_LOOPS`)."""
    loops: dict[str, Any] = {"asyncio": asyncio.new_event_loop}
    if item.path.relative_to(ROOT).as_posix() in BOTH_LOOPS:
        try:
            import uvloop
        except ImportError:  # Windows: no uvloop, and `kimi-bot run` uses asyncio's loop there
            return loops
        loops["uvloop"] = uvloop.new_event_loop
    return loops


CORPUS_MISSING = (
    "real-document corpus not found: set KIMI_TEST_CORPUS=DIR (CI has ../shared/corpus)"
)


# -- services ---------------------------------------------------------------------------------


def _run_async(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` to the end from sync code, even when called inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _candidate_users() -> list[str]:
    if os.environ.get("PGUSER"):
        return [os.environ["PGUSER"]]
    users = ["postgres"]
    try:
        users.append(getpass.getuser())
    except Exception:  # no user name in the environment or the password database
        pass
    return list(dict.fromkeys(users))


async def _postgres_login(user: str, database: str) -> str | None:
    """``None`` if ``user`` can log into ``database`` and create databases, else why not."""
    import asyncpg

    dsn = f"postgresql://{quote(user, safe='')}@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"
    try:
        connection = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        can_create = await connection.fetchval(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user",
            timeout=PROBE_TIMEOUT,
        )
    finally:
        await connection.close()
    return None if can_create else f"user {user} may not create databases"


@functools.cache
def postgres_server() -> tuple[str, str]:
    """(admin URL, "") of the PostgreSQL server the tests use, or ("", why there is none).

    ``TEST_POSTGRES_URL`` if set, else the first login that works at the default local port.
    """
    if os.environ.get("TEST_POSTGRES_URL"):
        return os.environ["TEST_POSTGRES_URL"], ""
    where = f"{POSTGRES_HOST}:{POSTGRES_PORT}"
    if not _port_open(POSTGRES_HOST, POSTGRES_PORT):
        return "", f"PostgreSQL not reachable at {where} (set TEST_POSTGRES_URL)"
    users = _candidate_users()
    for user in users:
        for database in POSTGRES_DATABASES:
            if _run_async(_postgres_login(user, database)) is None:
                url = f"postgresql+asyncpg://{quote(user, safe='')}@{where}/{database}"
                return url, ""
    tried = ", ".join(users)
    return "", (
        f"PostgreSQL at {where} has no usable login (users {tried}, databases "
        f"{' or '.join(POSTGRES_DATABASES)}, with CREATEDB) (set TEST_POSTGRES_URL)"
    )


@functools.cache
def redis_server() -> tuple[str, str]:
    """(URL, "") of the Redis database the tests use, or ("", why there is none).

    ``TEST_REDIS_URL`` if set (a database given for the tests to flush). Otherwise db 15 at the
    default local port, only if it is empty or marked as ours; it is marked on first use.
    """
    if os.environ.get("TEST_REDIS_URL"):
        return os.environ["TEST_REDIS_URL"], ""
    import redis

    where = f"{REDIS_HOST}:{REDIS_PORT}"
    url = f"redis://{where}/{REDIS_DB}"
    client = redis.Redis.from_url(
        url, socket_connect_timeout=0.5, socket_timeout=PROBE_TIMEOUT, retry_on_timeout=False
    )
    try:
        try:
            client.ping()
        except redis.ConnectionError:
            return "", f"Redis not reachable at {where} (set TEST_REDIS_URL)"
        except redis.RedisError as exc:
            return "", f"Redis at {where} refused us ({type(exc).__name__}) (set TEST_REDIS_URL)"
        if client.dbsize() and not client.exists(REDIS_MARKER):
            return "", (
                f"Redis db {REDIS_DB} at {where} holds other keys and no {REDIS_MARKER} marker, "
                "so the tests will not flush it (set TEST_REDIS_URL)"
            )
        client.set(REDIS_MARKER, REDIS_MARKER_VALUE)
    finally:
        client.close()
    return url, ""


def _service_missing(reason: str) -> NoReturn:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} [KIMI_REQUIRE_SERVICES=1]", pytrace=False)
    pytest.skip(reason)


def require_postgres() -> str:
    """The admin URL of the test PostgreSQL server; skips (fails in CI) when there is none."""
    url, reason = postgres_server()
    if not url:
        _service_missing(reason)
    return url


def require_redis() -> str:
    """The URL of the test Redis database; skips (fails in CI) when there is none."""
    url, reason = redis_server()
    if not url:
        _service_missing(reason)
    return url


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The detected PostgreSQL server's URL (a database to connect to for CREATE DATABASE)."""
    return require_postgres()


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    import asyncpg

    admin_dsn = postgres_admin_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"kimi_bot_test_{uuid.uuid4().hex[:10]}"

    async def _exec(sql: str) -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    _run_async(_exec(f'CREATE DATABASE "{name}"'))
    base = postgres_admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    _run_async(_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of this test's own, on each backend (migration tests: the session's
    PostgreSQL database is already at head)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    import asyncpg

    admin = request.getfixturevalue("postgres_admin_url")
    admin_dsn = admin.replace("postgresql+asyncpg://", "postgresql://")
    name = f"kimi_bot_fresh_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    yield f"{admin.rsplit('/', 1)[0]}/{name}"
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture
def redis_url() -> str:
    """The test Redis database, emptied first (limiter, lock and lease keys) and marked as ours."""
    url = require_redis()
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        client.set(REDIS_MARKER, REDIS_MARKER_VALUE)
    finally:
        client.close()
    return url


# -- the real-document corpus -----------------------------------------------------------------


def find_corpus() -> Path | None:
    """The third-party documents: ``$KIMI_TEST_CORPUS``, else the sibling folder CI provides."""
    configured = os.environ.get("KIMI_TEST_CORPUS")
    if configured:
        folder = Path(configured)
    else:
        folder = ROOT.parent / "shared" / "corpus"  # no KIMI_TEST_CORPUS: CI's ../shared/corpus
    return folder if folder.is_dir() else None


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real-document corpus folder; tests that use it skip when there is none."""
    folder = find_corpus()
    if folder is None:
        pytest.skip(CORPUS_MISSING)
    return folder


# -- databases, emulators, engines ------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'kimi.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'kimi.db'}"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.migrate()
    await clean_database(database)
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
    await clean_database(built.db)
    yield built
    await built.close()
