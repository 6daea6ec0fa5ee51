"""A lease in Redis: one owner at a time, renewed while held, lapsing by itself after a crash.

The building block of the cross-worker conversation locks (:mod:`core.redis_locks`) and of the
Telegram polling lease. Each operation is one Lua script, so "is it still mine?" and the change
happen atomically:

- acquire: ``SET key token NX PX ttl``; with a fence key, also ``INCR`` it in the same step, so
  every acquisition gets a fencing token larger than all earlier ones;
- renew: ``PEXPIRE`` only if the value is still our token;
- release: ``DEL`` only if the value is still our token (compare-and-delete), so a worker whose
  lease already lapsed can never delete the next owner's.
"""

from __future__ import annotations

import uuid
from typing import Any

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if #KEYS > 1 then
    local fence = redis.call('INCR', KEYS[2])
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
    return fence
  end
  return 1
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# While still the owner: lift the counter to at least ARGV[2] (the fence the protected resource
# last saw, e.g. after Redis lost its data) and take the next token.
_REFENCE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local floor = tonumber(ARGV[2])
if current < floor then
  redis.call('SET', KEYS[2], floor)
end
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return fence
"""

FENCE_TTL_MS = 30 * 24 * 3600 * 1000  # an idle conversation's counter goes after 30 days


class LeaseScripts:
    """The four scripts registered once per client (EVALSHA, reloaded on NOSCRIPT)."""

    def __init__(self, client: Any) -> None:
        self.acquire = client.register_script(_ACQUIRE)
        self.renew = client.register_script(_RENEW)
        self.release = client.register_script(_RELEASE)
        self.refence = client.register_script(_REFENCE)


class RedisLease:
    """One attempt to own ``key`` for ``ttl`` seconds (a fresh token per instance)."""

    def __init__(
        self,
        scripts: LeaseScripts,
        key: str,
        *,
        ttl: float,
        fence_key: str | None = None,
        owner: str = "",
    ) -> None:
        self._scripts = scripts
        self.key = key
        self.fence_key = fence_key
        self.ttl_ms = max(1, int(ttl * 1000))
        # The owner (a worker id) is readable in the value, so others can log who holds it.
        self.token = f"{owner}/{uuid.uuid4().hex}" if owner else uuid.uuid4().hex
        self.fence = 0
        self.lost = False

    def _keys(self) -> list[str]:
        return [self.key] if self.fence_key is None else [self.key, self.fence_key]

    async def try_acquire(self) -> bool:
        """Own the key now if nobody does; sets :attr:`fence` (1 without a fence key)."""
        result = await self._scripts.acquire(
            keys=self._keys(), args=[self.token, self.ttl_ms, FENCE_TTL_MS]
        )
        self.fence = int(result or 0)
        return self.fence > 0

    async def renew(self) -> bool:
        """Extend to a full ``ttl`` from now; False (and :attr:`lost`) if it is no longer ours."""
        held = bool(await self._scripts.renew(keys=[self.key], args=[self.token, self.ttl_ms]))
        if not held:
            self.lost = True
        return held

    async def release(self) -> bool:
        """Give it up; False if it had lapsed (and perhaps been taken) already."""
        return bool(await self._scripts.release(keys=[self.key], args=[self.token]))

    async def refence(self, floor: int) -> bool:
        """Take a new fencing token above ``floor`` while still holding the lease."""
        if self.fence_key is None:
            raise ValueError("this lease has no fence key")
        result = await self._scripts.refence(
            keys=[self.key, self.fence_key], args=[self.token, floor, FENCE_TTL_MS]
        )
        if not result:
            self.lost = True
            return False
        self.fence = int(result)
        return True
