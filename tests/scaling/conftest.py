"""Fixtures of the scaling tests: a fresh PostgreSQL database, a Redis test db, the Moonshot and
Slack emulators in this process, a round-robin "load balancer", and a fleet of real workers.

PostgreSQL and Redis are found as for every other service test (``TEST_POSTGRES_URL`` /
``TEST_REDIS_URL``, else the default local ports; see tests/conftest.py): when one is missing
these tests skip (fail under ``KIMI_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulators.slack import SlackEmulator
from tests.conftest import EMULATOR_KEY
from tests.scaling.workers import Fleet, RoundRobin, create_database, drop_database, worker_env

SLACK_TOKEN = "xoxb-scaling-test-token"
SLACK_SECRET = "scaling-test-signing-secret"
USERS = 12


@pytest.fixture
async def fresh_db(postgres_admin_url: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for this test (the workers migrate it)."""
    url = await create_database(postgres_admin_url)
    yield url
    await drop_database(url)


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    """Slack with users U1…U12, each with a DM D1…D12 with the bot."""
    emulator = SlackEmulator(bot_token=SLACK_TOKEN, signing_secret=SLACK_SECRET)
    await emulator.start()
    for i in range(1, USERS + 1):
        emulator.add_user(f"U{i}", name=f"user{i}", real_name=f"User {i}", display_name=f"U{i}")
        emulator.add_channel(f"D{i}", is_im=True, user=f"U{i}")
    yield emulator
    await emulator.stop()


@pytest.fixture
async def balancer(slack: SlackEmulator) -> AsyncIterator[RoundRobin]:
    """Slack's events URL, spreading deliveries over the fleet's workers in turn."""
    lb = RoundRobin()
    await lb.start()
    slack.events_url = lb.url
    yield lb
    await lb.close()


@pytest.fixture
async def fleet(
    tmp_path: Path, fresh_db: str, redis_url: str, moonshot, slack: SlackEmulator, balancer
) -> AsyncIterator[Fleet]:
    """Workers on the fresh database and Redis, speaking to both emulators over HTTP."""
    env = worker_env(
        database_url=fresh_db,
        redis_url=redis_url,
        moonshot_base_url=moonshot.base_url,
        moonshot_api_key=EMULATOR_KEY,
        slack_bot_token=SLACK_TOKEN,
        slack_signing_secret=SLACK_SECRET,
        slack_api_url=slack.api_url,
        slack_update_interval=0.2,
        worker_dead_after=2,
        shutdown_grace=20,
        kimi_max_retries=2,
    )
    fleet = Fleet(tmp_path, env, on_start=balancer.workers.append)
    yield fleet
    await fleet.close()
