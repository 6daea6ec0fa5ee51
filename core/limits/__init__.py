"""Rate limits that mirror Moonshot's, per account and per user, in one process or many.

See :mod:`core.limits.limiter` for the behaviour; :func:`build_limiter` picks the backend from
the settings (Redis when ``REDIS_URL`` is set, in-process otherwise).
"""

from __future__ import annotations

from typing import Any

from core.catalog import Catalog
from core.limits.backend import Admission, Backend, Decision, InProcessBackend, Penalty
from core.limits.calls import LimitedKimi
from core.limits.clock import Clock, FakeClock, MonotonicClock, WallClock
from core.limits.errors import (
    ACCOUNT,
    USER,
    DailyLimitExceeded,
    LimitExceeded,
    format_duration,
    wait_notice,
)
from core.limits.limiter import Limiter, LimitSnapshot, Permit, WaitCallback
from core.limits.redis_backend import RedisBackend

__all__ = [
    "ACCOUNT",
    "USER",
    "Admission",
    "Backend",
    "Clock",
    "DailyLimitExceeded",
    "Decision",
    "FakeClock",
    "InProcessBackend",
    "LimitExceeded",
    "LimitSnapshot",
    "LimitedKimi",
    "Limiter",
    "MonotonicClock",
    "Penalty",
    "Permit",
    "RedisBackend",
    "WaitCallback",
    "WallClock",
    "build_limiter",
    "format_duration",
    "wait_notice",
]


def build_limiter(settings: Any, catalog: Catalog | None = None, **options: Any) -> Limiter:
    """The limiter for these settings: Redis (Unix-time clock) when ``REDIS_URL`` is set, else
    in-process (monotonic clock). ``LIMIT_MAX_WAIT`` (``settings.limit_max_wait``) bounds the
    queueing; ``options`` go to :class:`Limiter` (tests, benchmarks)."""
    catalog = catalog or settings.catalog
    options.setdefault("max_wait", float(getattr(settings, "limit_max_wait", 60.0)))
    redis_url = getattr(settings, "redis_url", None)
    if redis_url:
        options.setdefault("clock", WallClock())
        return Limiter(catalog, RedisBackend.from_url(redis_url), **options)
    options.setdefault("clock", MonotonicClock())
    return Limiter(catalog, InProcessBackend(), **options)
