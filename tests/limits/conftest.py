"""Fixtures of the limiter tests: Redis (db 15 of ``TEST_REDIS_URL``, flushed before each test).

Without ``TEST_REDIS_URL`` the Redis cases skip (fail under ``KIMI_REQUIRE_SERVICES=1``), the
same rule as PostgreSQL's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from core.limits import Backend
from tests.conftest import REDIS_URL
from tests.limits.helpers import make_backend


@pytest.fixture(params=["memory", "redis"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis_url")
    return request.param


@pytest.fixture
def new_backend(backend_kind: str) -> Callable[[], Backend]:
    """Backends of the parametrized kind; Redis ones made by one test share their keys."""
    prefix = f"test:{uuid.uuid4().hex[:8]}"
    return lambda: make_backend(backend_kind, REDIS_URL, prefix)
