"""Shared pieces of the limiter tests: a one-model catalog, backends, a simulated clock driver."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from core.catalog import Catalog, ModelSpec
from core.limits import Backend, FakeClock, InProcessBackend, Limiter, RedisBackend

T = TypeVar("T")
MODEL = "m"
START = 1_000_000.0


def catalog(
    rpm: int, tpm: int, concurrency: int, user_limits: dict[str, int] | None = None
) -> Catalog:
    spec = ModelSpec(MODEL, 1_000_000, 100_000, 12.0, 36.0, rpm, tpm, concurrency)
    return Catalog(models={MODEL: spec}, user_limits=dict(user_limits or {}))


def make_backend(kind: str, redis_url: str, prefix: str) -> Backend:
    if kind == "memory":
        return InProcessBackend()
    import redis.asyncio as redis

    client = redis.from_url(redis_url, decode_responses=True)
    return RedisBackend(client, prefix=prefix, owns_client=True)


class Sim:
    """Drives a FakeClock: between steps, waits until every limiter's backend calls are done."""

    def __init__(self, clock: FakeClock, *limiters: Limiter) -> None:
        self.clock = clock
        self.limiters = list(limiters)

    async def settle(self) -> None:
        quiet = 0
        while quiet < 2:
            for _ in range(30):
                await asyncio.sleep(0)
            if any(limiter.busy for limiter in self.limiters):
                quiet = 0
                await asyncio.sleep(0.0002)  # a Redis round trip in flight: real time passes
            else:
                quiet += 1

    async def run_until(self, when: float) -> None:
        await self.clock.run_until(when, self.settle)

    async def run_for(self, seconds: float) -> None:
        await self.clock.run_until(self.clock.now() + seconds, self.settle)

    async def run(self, pending: Awaitable[T], limit: float = 1e7) -> T:
        return await self.clock.run_while(pending, self.settle, limit=limit)


def limiter(cat: Catalog, backend: Backend, clock: FakeClock, **options: Any) -> Limiter:
    options.setdefault("release_grace", 0.0)
    options.setdefault("margin", 0.0)
    return Limiter(cat, backend, clock=clock, **options)
