"""Fixtures of the limiter tests: the test Redis database (``redis_url``, flushed before each test).

Redis is ``TEST_REDIS_URL``, else db 15 at the default local port (see tests/conftest.py); without
one the Redis cases skip (fail under ``KIMI_REQUIRE_SERVICES=1``), the same rule as PostgreSQL's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from core.limits import Backend
from tests.limits.helpers import make_backend


@pytest.fixture(params=["memory", "redis"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis_url")  # skips (or fails in CI) without Redis
    return request.param


@pytest.fixture
def new_backend(request: pytest.FixtureRequest, backend_kind: str) -> Callable[[], Backend]:
    """Backends of the parametrized kind; Redis ones made by one test share their keys."""
    url = request.getfixturevalue("redis_url") if backend_kind == "redis" else ""
    prefix = f"test:{uuid.uuid4().hex[:8]}"
    return lambda: make_backend(backend_kind, url, prefix)
