"""End to end through the Moonshot emulator enforcing the same limits: a flood of users through
the limiter earns zero 429s; the same flood without it earns many (so the check can fail).

Concurrency is the limit exercised here: RPM/TPM windows are a real minute in the emulator, and
the simulated-clock tests cover them."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from core import errors
from core.catalog import Catalog, builtin_catalog
from core.kimi import KimiClient, RetryPolicy
from core.limits import Limiter
from emulators.moonshot import MoonshotEmulator

KEY = "sk-limits-test"
USERS, CALLS = 6, 4


def flood_catalog() -> Catalog:
    base = builtin_catalog()
    spec = replace(base.get("kimi-k2"), rpm=1000, tpm=10**7, concurrency=2)
    return Catalog(models={**base.models, "kimi-k2": spec}, user_limits={})


async def flood(limiter: Limiter | None) -> tuple[int, int, int]:
    catalog = flood_catalog()
    spec = catalog.get("kimi-k2")
    emulator = MoonshotEmulator(
        api_key=KEY, catalog=catalog, enforce_limits=True, token_delay=0.004
    )
    await emulator.start()
    client = KimiClient(api_key=KEY, base_url=emulator.base_url, policy=RetryPolicy(max_retries=0))
    done = limited = 0

    async def call(user: int, n: int) -> None:
        nonlocal done, limited
        messages = [{"role": "user", "content": f"question {n} from user {user}"}]
        try:
            if limiter is None:
                await client.stream(model=spec, messages=messages, max_tokens=64)
            else:
                async with limiter.admit(
                    model=spec.id, user_id=f"u{user}", prompt_tokens=20, max_tokens=64
                ) as permit:
                    result = await client.stream(model=spec, messages=messages, max_tokens=64)
                    assert result.usage is not None
                    permit.reconcile(result.usage.prompt_tokens, result.usage.completion_tokens)
            done += 1
        except errors.RateLimited:
            limited += 1

    try:
        await asyncio.gather(*(call(u, n) for u in range(USERS) for n in range(CALLS)))
        return done, limited, emulator.rate_limited_count
    finally:
        await client.close()
        await emulator.stop()


async def test_flood_through_the_limiter_gets_no_429() -> None:
    limiter = Limiter(flood_catalog(), max_wait=60, release_grace=0.05)
    done, limited, answered_429 = await flood(limiter)
    await limiter.close()
    assert (done, limited, answered_429) == (USERS * CALLS, 0, 0)


async def test_the_same_flood_without_the_limiter_gets_429s() -> None:
    done, limited, answered_429 = await flood(None)
    assert limited > 0 and answered_429 == limited
    assert done + limited == USERS * CALLS
