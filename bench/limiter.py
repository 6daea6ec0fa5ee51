"""The limiter: overhead per admission, and a flood of users against the brief's kimi-k2 limits.

1. Overhead: admit + release with no contention, in-process and on Redis (if reachable).
2. Simulated flood (no real sleeps): 50 users, each asking again after every answer (streams of
   3-15 s, 0-5 s to read), retrying when refused after the time they were told, for
   ``--sim-minutes`` of simulated time against kimi-k2's 10 RPM / 300K TPM / 3 concurrent.
   Targets: achieved rate >= 95 % of RPM; Jain's fairness index over users >= 0.9.
3. ``--emulator``: the same flood in real time (``--duration``, default 120 s) through the real
   ``openai`` SDK against the Moonshot emulator enforcing the same limits; reports its 429s
   (target 0). ``run_emulator_flood(call=...)`` takes another call path (e.g. the engine).

    python -m bench.limiter [--redis-url URL] [--users 50] [--sim-minutes 30]
    python -m bench.limiter --emulator [--duration 120] [--backend memory|redis]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.catalog import Catalog, builtin_catalog
from core.limits import (
    Backend,
    FakeClock,
    InProcessBackend,
    Limiter,
    LimitExceeded,
    RedisBackend,
    WallClock,
)

MODEL = "kimi-k2"


def jain(counts: list[int]) -> float:
    """Jain's fairness index: 1.0 when every user got the same, 1/n when one user got all."""
    total = sum(counts)
    squares = sum(c * c for c in counts)
    return (total * total) / (len(counts) * squares) if squares else 1.0


def best_jain(total: int, users: int) -> float:
    """The highest Jain index any scheduler can reach with ``total`` whole admissions."""
    q, r = divmod(total, users)
    return jain([q + 1] * r + [q] * (users - r)) if total else 1.0


@dataclass
class FloodResult:
    seconds: float
    rpm: int
    admitted: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    notices: int = 0
    waits: list[float] = field(default_factory=list)
    rate_limited: int | None = None  # 429s the emulator answered

    def report(self, users: int, title: str) -> None:
        total = sum(self.admitted.values())
        counts = [self.admitted.get(f"user{i}", 0) for i in range(users)]
        minutes = self.seconds / 60
        share = total / (self.rpm * minutes) if minutes else 0.0
        fairness, ceiling = jain(counts), best_jain(total, users)
        waits = sorted(self.waits) or [0.0]
        print(f"\n{title}")
        print(
            f"  {total} calls in {minutes:.1f} min = {total / minutes:.2f}/min "
            f"= {share:.1%} of RPM {self.rpm} (target >= 95%)"
        )
        print(
            f"  Jain's fairness over {users} users: {fairness:.3f} (target >= 0.9; "
            f"best possible with {total} calls: {ceiling:.3f}, "
            f"relative {fairness / ceiling:.3f}); calls per user min {min(counts)} "
            f"max {max(counts)}"
        )
        print(
            f"  waits of admitted calls: median {statistics.median(waits):.1f} s, "
            f"p95 {waits[int(len(waits) * 0.95) - 1 if len(waits) >= 20 else -1]:.1f} s, "
            f"max {waits[-1]:.1f} s; wait notices {self.notices}; refusals {self.refused}"
        )
        if self.rate_limited is not None:
            print(f"  429s answered by the emulator: {self.rate_limited} (target 0)")


# -- overhead ---------------------------------------------------------------------------------


async def overhead(backend: Backend, admissions: int, clock: object | None = None) -> float:
    """Mean seconds per admit + release with room to spare (no waiting)."""
    base = builtin_catalog()
    spec = base.get(MODEL)
    from dataclasses import replace

    roomy = replace(spec, rpm=10**9, tpm=10**12, concurrency=10**6)
    catalog = Catalog(models={MODEL: roomy}, user_limits={})
    limiter = Limiter(catalog, backend, clock=clock or WallClock(), release_grace=0.0)
    for i in range(20):  # warm-up: connections, script loading
        async with limiter.admit(model=MODEL, user_id=f"w{i}", prompt_tokens=1, max_tokens=1):
            pass
    started = time.perf_counter()
    for i in range(admissions):
        async with limiter.admit(
            model=MODEL, user_id=f"user{i % 50}", prompt_tokens=1000, max_tokens=2048
        ):
            pass
    elapsed = time.perf_counter() - started
    await limiter.close()
    return elapsed / admissions


# -- simulated flood ----------------------------------------------------------------------------


async def simulated_flood(users: int, minutes: float, seed: int = 7) -> FloodResult:
    rng = random.Random(seed)
    clock = FakeClock(0.0)
    limiter = Limiter(builtin_catalog(), InProcessBackend(), clock=clock, max_wait=60.0)
    spec = builtin_catalog().get(MODEL)
    end = minutes * 60
    result = FloodResult(seconds=end, rpm=spec.rpm)

    async def user(name: str) -> None:
        await clock.sleep(rng.uniform(0, 5))
        while clock.now() < end:

            async def notice(_seconds: float) -> None:
                result.notices += 1

            asked = clock.now()
            try:
                async with limiter.admit(
                    model=MODEL,
                    user_id=name,
                    prompt_tokens=rng.randint(500, 4000),
                    max_tokens=2048,
                    on_wait=notice,
                ) as permit:
                    if clock.now() >= end:
                        break
                    result.admitted[name] += 1
                    result.waits.append(clock.now() - asked)
                    await clock.sleep(rng.uniform(3, 15))
                    permit.reconcile(permit.prompt_tokens, rng.randint(50, 800))
                await clock.sleep(rng.uniform(0, 5))
            except LimitExceeded as exc:
                result.refused += 1
                await clock.sleep(exc.retry_after_seconds)

    async def settle() -> None:
        for _ in range(40):
            await asyncio.sleep(0)

    tasks = [asyncio.ensure_future(user(f"user{i}")) for i in range(users)]
    await clock.run_until(end + 1, settle)
    for task in tasks:
        task.cancel()
    await clock.run_until(end + 400, settle)
    await asyncio.gather(*tasks, return_exceptions=True)
    await limiter.close()
    return result


# -- real time against the emulator ---------------------------------------------------------------

CallFn = Callable[[str, int], Awaitable[float | None]]


async def run_emulator_flood(
    users: int,
    duration: float,
    limiter: Limiter,
    *,
    call: CallFn | None = None,
    token_delay: float = 0.02,
) -> FloodResult:
    """Users flood the emulator (enforcing the brief's limits) for ``duration`` seconds.

    By default each call goes through ``limiter.admit`` + ``KimiClient.stream``; pass ``call``
    (``await call(user_id, n)`` returning the seconds it queued, or None if unknown, and raising
    LimitExceeded when refused) to drive another path, e.g. the engine once it uses the limiter.
    """
    from core import errors
    from core.kimi import KimiClient, RetryPolicy
    from emulators.moonshot import MoonshotEmulator

    key = "sk-bench-limiter"
    emulator = MoonshotEmulator(api_key=key, enforce_limits=True, token_delay=token_delay)
    await emulator.start()
    client = KimiClient(api_key=key, base_url=emulator.base_url, policy=RetryPolicy(max_retries=0))
    spec = emulator.catalog.get(MODEL)
    result = FloodResult(seconds=duration, rpm=spec.rpm)
    started = time.monotonic()
    deadline = started + duration

    async def default_call(user_id: str, n: int) -> float | None:
        messages = [{"role": "user", "content": f"question {n} from {user_id}"}]

        async def notice(_seconds: float) -> None:
            result.notices += 1

        async with limiter.admit(
            model=MODEL, user_id=user_id, prompt_tokens=30, max_tokens=256, on_wait=notice
        ) as permit:
            completion = await client.stream(model=spec, messages=messages, max_tokens=256)
            if completion.usage is not None:
                permit.reconcile(completion.usage.prompt_tokens, completion.usage.completion_tokens)
        return permit.waited

    run_call = call or default_call

    async def user(name: str) -> None:
        n = 0
        await asyncio.sleep(random.uniform(0, 1))
        while time.monotonic() < deadline:
            asked = time.monotonic()
            try:
                waited = await run_call(name, n)
                if time.monotonic() <= deadline:
                    result.admitted[name] += 1
                    if waited is not None:
                        result.waits.append(waited)
                n += 1
                await asyncio.sleep(random.uniform(0, 2))
            except LimitExceeded as exc:
                result.refused += 1
                await asyncio.sleep(min(exc.retry_after_seconds, max(0.0, deadline - asked)))
            except errors.RateLimited:
                await asyncio.sleep(1)

    tasks = [asyncio.ensure_future(user(f"user{i}")) for i in range(users)]
    try:
        await asyncio.sleep(duration)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        result.rate_limited = emulator.rate_limited_count
        await client.close()
        await emulator.stop()
    return result


def _redis_backend(url: str) -> RedisBackend:
    return RedisBackend.from_url(url, prefix=f"bench:{uuid.uuid4().hex[:8]}")


async def _redis_ok(url: str) -> bool:
    import redis.asyncio as redis

    client = redis.from_url(url)
    try:
        await asyncio.wait_for(client.ping(), 2)
        return True
    except Exception:
        return False
    finally:
        await client.aclose()


async def main(args: argparse.Namespace) -> None:
    print("Limiter overhead per admission (admit + release, no waiting):")
    per = await overhead(InProcessBackend(), args.admissions)
    print(f"  in-process: {per * 1e6:.1f} µs (n={args.admissions})")
    redis_url = args.redis_url
    if redis_url and await _redis_ok(redis_url):
        n = max(100, args.admissions // 4)
        per = await overhead(_redis_backend(redis_url), n)
        print(f"  Redis ({redis_url}): {per * 1e3:.3f} ms (n={n}; two Lua calls per admission)")
    else:
        print("  Redis: skipped (no --redis-url / REDIS_URL reachable)")

    spec = builtin_catalog().get(MODEL)
    flood = await simulated_flood(args.users, args.sim_minutes)
    flood.report(
        args.users,
        f"Simulated flood: {args.users} users, {args.sim_minutes:g} simulated minutes, "
        f"{MODEL} limits {spec.rpm} RPM / {spec.tpm:,} TPM / {spec.concurrency} concurrent",
    )

    if args.emulator:
        if args.backend == "redis":
            if not (redis_url and await _redis_ok(redis_url)):
                raise SystemExit("--backend redis needs a reachable --redis-url")
            limiter = Limiter(builtin_catalog(), _redis_backend(redis_url), clock=WallClock())
        else:
            limiter = Limiter(builtin_catalog())
        result = await run_emulator_flood(args.users, args.duration, limiter)
        await limiter.close()
        result.report(
            args.users,
            f"Emulator flood (real time, {args.backend} backend): {args.users} users, "
            f"{args.duration:g} s against the emulator enforcing {MODEL}'s limits",
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.limiter", description=__doc__)
    parser.add_argument("--admissions", type=int, default=2000)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL") or os.environ.get("TEST_REDIS_URL"),
        help="Redis for the overhead and --backend redis (default: $REDIS_URL/$TEST_REDIS_URL)",
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--sim-minutes", type=float, default=30.0)
    parser.add_argument("--emulator", action="store_true", help="also flood the emulator")
    parser.add_argument("--duration", type=float, default=120.0, help="emulator run, seconds")
    parser.add_argument("--backend", choices=("memory", "redis"), default="memory")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
