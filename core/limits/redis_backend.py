"""The Redis backend: the same windows as the in-process one, shared by every worker.

Each decision is one Lua script (``register_script``: EVALSHA, reloaded on NOSCRIPT), so checking
both scopes and recording the request is atomic across any number of processes. The caller's clock
is passed in as ``now`` (nothing reads Redis' TIME), which keeps the scripts testable on a
simulated clock; in production every worker uses Unix time.

Keys (the ``{model}`` hash tag keeps one model's keys in one cluster slot)::

    <prefix>:{<model>}:a:req        account log: ZSET score=stamp, member="<entry id>:<tokens>"
    <prefix>:{<model>}:a:tok        the sum of the log's tokens (so TPM is not a scan)
    <prefix>:{<model>}:a:conc       account slots: ZSET score=lease end, member=permit id
    <prefix>:{<model>}:u:<user>:req / :tok / :conc    the same per user
    <prefix>:{<model>}:penalty      HASH block, factor, until
    <prefix>:{<model>}:d:<day>:tok  tokens counted against the model's TPD on that day
    <prefix>:{<model>}:d:<day>:spent  set when Moonshot answered a TPD 429 that day

Held slots are leases renewed by the permit's heartbeat, so a crashed worker's slots free
themselves after ``lease`` seconds. Keys carry a TTL, so idle models and users leave nothing.
"""

from __future__ import annotations

import math
from typing import Any

from core.limits.backend import Admission, Decision, Penalty

_COMMON = """
local function spent_of(member)
  return tonumber(string.match(member, ':(%d+)$')) or 0
end

-- Drop entries that left every window; keep the running token sum in step. A missing sum
-- (not expected: both keys get the same TTL) is rebuilt from the log first.
local function prune(req, tok, now, window)
  if not redis.call('GET', tok) then
    local all, sum = redis.call('ZRANGE', req, 0, -1), 0
    for i = 1, #all do sum = sum + spent_of(all[i]) end
    if #all > 0 then redis.call('SET', tok, sum) end
  end
  local old = redis.call('ZRANGEBYSCORE', req, '-inf', now - window)
  if #old > 0 then
    local gone = 0
    for i = 1, #old do gone = gone + spent_of(old[i]) end
    redis.call('ZREMRANGEBYSCORE', req, '-inf', now - window)
    redis.call('DECRBY', tok, gone)
  end
  local n = redis.call('ZCARD', req)
  if n == 0 then redis.call('DEL', tok) end
  return n
end
"""

_ACQUIRE = (
    _COMMON
    + """
local now = tonumber(ARGV[1])
local stamp = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local member = ARGV[5]
local slot = ARGV[6]
local lease_until = ARGV[7]
local take_slot = ARGV[8] == '1'
local ttl = ARGV[15]
local tpd = tonumber(ARGV[16])
local count_day = ARGV[17] == '1'
local day_ttl = ARGV[18]
local day_left = ARGV[19]

-- The day first: a spent day, or a total that this request would take past TPD, refuses at
-- once (no wait within a request's patience can help).
if redis.call('EXISTS', KEYS[9]) == 1 then return {0, 'account', 'tpd_spent', day_left} end
if count_day then
  local used = tonumber(redis.call('GET', KEYS[8])) or 0
  if used + math.min(tokens, tpd) > tpd then return {0, 'account', 'tpd', day_left} end
end

local function refusal(req, conc, tok, rpm, tpm, cc)
  local stored = prune(req, tok, now, window)
  redis.call('ZREMRANGEBYSCORE', conc, '-inf', now)
  local conc_fail = take_slot and redis.call('ZCARD', conc) >= cc
  -- Entries stamped at or before stamp - window are not live for this stamp (only when the
  -- request is stamped ahead of now, for a client retry sent later).
  local early, early_spent = 0, 0
  if stamp > now then
    local cut = redis.call('ZRANGEBYSCORE', req, '-inf', string.format('%.17g', stamp - window))
    early = #cut
    for i = 1, #cut do early_spent = early_spent + spent_of(cut[i]) end
  end
  local count = stored - early
  local used = (tonumber(redis.call('GET', tok)) or 0) - early_spent
  local worst = nil
  if count >= rpm then
    local at = redis.call('ZRANGE', req, stored - rpm, stored - rpm, 'WITHSCORES')
    worst = {'rpm', tonumber(at[2]) + window - stamp}
  end
  local need = math.min(tokens, tpm)
  if used + need > tpm then
    local live = redis.call('ZRANGE', req, early, -1, 'WITHSCORES')
    for i = 1, #live, 2 do
      used = used - spent_of(live[i])
      if used + need <= tpm then
        local wait = tonumber(live[i + 1]) + window - stamp
        if worst == nil or wait > worst[2] then worst = {'tpm', wait} end
        break
      end
    end
  end
  if worst ~= nil then return worst end
  if conc_fail then return {'concurrency', -1} end
  return nil
end

local why = refusal(KEYS[3], KEYS[4], KEYS[7], tonumber(ARGV[12]), tonumber(ARGV[13]),
                    tonumber(ARGV[14]))
if why then return {0, 'user', why[1], tostring(why[2])} end

local p = redis.call('HMGET', KEYS[5], 'block', 'factor', 'until')
local block = tonumber(p[1]) or 0
local factor = 1
if tonumber(p[3]) and tonumber(p[3]) > now then factor = tonumber(p[2]) or 1 end
if block > stamp then return {0, 'account', 'cooldown', tostring(block - stamp)} end
local function scale(x)
  if factor >= 1 then return x end
  return math.max(1, math.floor(x * factor))
end
why = refusal(KEYS[1], KEYS[2], KEYS[6], scale(tonumber(ARGV[9])), scale(tonumber(ARGV[10])),
              scale(tonumber(ARGV[11])))
if why then return {0, 'account', why[1], tostring(why[2])} end

for _, pair in ipairs({{KEYS[3], KEYS[7]}, {KEYS[1], KEYS[6]}}) do
  redis.call('ZADD', pair[1], stamp, member)
  redis.call('INCRBY', pair[2], tokens)
  redis.call('PEXPIRE', pair[1], ttl)
  redis.call('PEXPIRE', pair[2], ttl)
end
if take_slot then
  for _, key in ipairs({KEYS[4], KEYS[2]}) do
    redis.call('ZADD', key, lease_until, slot)
    redis.call('PEXPIRE', key, ttl)
  end
end
if count_day then
  redis.call('INCRBY', KEYS[8], tokens)
  redis.call('PEXPIRE', KEYS[8], day_ttl)
end
return {1, '', '', '0'}
"""
)

_FINISH = """
local now = tonumber(ARGV[1])
local grace = tonumber(ARGV[2])
local slot = ARGV[3]
local change = tonumber(ARGV[5])
local day_change = tonumber(ARGV[6])
if day_change ~= 0 and redis.call('EXISTS', KEYS[7]) == 1 then
  redis.call('INCRBY', KEYS[7], day_change)
end
for i = 7, #ARGV, 2 do
  for _, pair in ipairs({{KEYS[1], KEYS[5]}, {KEYS[3], KEYS[6]}}) do
    local score = redis.call('ZSCORE', pair[1], ARGV[i])
    if score then
      redis.call('ZREM', pair[1], ARGV[i])
      redis.call('ZADD', pair[1], score, ARGV[i + 1])
      redis.call('INCRBY', pair[2], change)
    end
  end
end
if ARGV[4] == '1' then
  for _, key in ipairs({KEYS[2], KEYS[4]}) do
    if grace > 0 then
      redis.call('ZADD', key, 'XX', now + grace, slot)
    else
      redis.call('ZREM', key, slot)
    end
  end
end
return 1
"""

_RENEW = """
local held = 1
for _, key in ipairs(KEYS) do
  if redis.call('ZSCORE', key, ARGV[2]) then
    redis.call('ZADD', key, ARGV[1], ARGV[2])
    redis.call('PEXPIRE', key, ARGV[3])
  else
    held = 0
  end
end
return held
"""

_PENALIZE = """
local now = tonumber(ARGV[1])
local p = redis.call('HMGET', KEYS[1], 'block', 'factor', 'until')
local block = tonumber(p[1]) or 0
local factor = 1
if tonumber(p[3]) and tonumber(p[3]) > now then factor = tonumber(p[2]) or 1 end
factor = math.max(tonumber(ARGV[4]), factor * 0.5)
block = math.max(block, now + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'block', tostring(block), 'factor', tostring(factor),
           'until', tostring(now + tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {tostring(factor), tostring(block)}
"""


class RedisBackend:
    """Windows and slots in Redis; any number of limiter instances share them."""

    shared = True
    needs_heartbeat = True

    def __init__(self, client: Any, *, prefix: str = "kimi:limits", owns_client: bool = False):
        """``client`` is a ``redis.asyncio.Redis`` created with ``decode_responses=True``."""
        self._redis = client
        self._prefix = prefix
        self._owns = owns_client
        self._acquire = client.register_script(_ACQUIRE)
        self._finish = client.register_script(_FINISH)
        self._renew = client.register_script(_RENEW)
        self._penalize = client.register_script(_PENALIZE)
        self._ttl_ms = 0

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "kimi:limits") -> RedisBackend:
        import redis.asyncio as redis

        client = redis.from_url(url, decode_responses=True)
        return cls(client, prefix=prefix, owns_client=True)

    @property
    def client(self) -> Any:
        return self._redis

    def _keys(self, model: str, user_id: str) -> list[str]:
        base = f"{self._prefix}:{{{model}}}"
        return [
            f"{base}:a:req",
            f"{base}:a:conc",
            f"{base}:u:{user_id}:req",
            f"{base}:u:{user_id}:conc",
            f"{base}:penalty",
            f"{base}:a:tok",
            f"{base}:u:{user_id}:tok",
        ]

    def _day_keys(self, model: str, day: str) -> list[str]:
        base = f"{self._prefix}:{{{model}}}:d:{day}"
        return [f"{base}:tok", f"{base}:spent"]

    def _ttl(self, window: float, lease: float) -> int:
        return int((window + max(lease, 0.0) + 120.0) * 1000)

    async def acquire(
        self, adm: Admission, now: float, *, window: float, lease_until: float
    ) -> Decision:
        stamp = now + adm.lead
        entry_id = adm.next_entry_id()
        self._ttl_ms = max(self._ttl_ms, self._ttl(window, lease_until - now))
        count_day = adm.tpd is not None and not adm.day_counted
        result = await self._acquire(
            keys=self._keys(adm.model, adm.user_id) + self._day_keys(adm.model, adm.day),
            args=[
                repr(now),
                repr(stamp),
                repr(window),
                adm.tokens,
                f"{entry_id}:{adm.tokens}",
                adm.id,
                repr(lease_until),
                1 if adm.take_slot else 0,
                adm.account.rpm,
                adm.account.tpm,
                adm.account.concurrency,
                adm.user.rpm,
                adm.user.tpm,
                adm.user.concurrency,
                self._ttl_ms,
                adm.tpd or 0,
                1 if count_day else 0,
                _day_ttl_ms(adm.day_left),
                repr(adm.day_left),
            ],
        )
        if int(result[0]) == 1:
            adm.entries.append((entry_id, stamp))
            if adm.take_slot:
                adm.holds_slot = True
            if count_day:
                adm.day_counted = adm.day
            return Decision(True, stamp=stamp)
        wait = float(result[3])
        return Decision(False, str(result[1]), str(result[2]), None if wait < 0 else wait)

    async def finish(self, adm: Admission, now: float, *, tokens: int | None, grace: float) -> None:
        a_req, a_conc, u_req, u_conc, _, a_tok, u_tok = self._keys(adm.model, adm.user_id)
        day_tok = self._day_keys(adm.model, adm.day_counted)[0]
        keys = [a_req, a_conc, u_req, u_conc, a_tok, u_tok, day_tok]
        change = 0 if tokens is None else tokens - adm.tokens
        day_change = change if adm.day_counted else 0
        pairs: list[str] = []
        if change:
            for entry_id, _ in adm.entries:
                pairs += [f"{entry_id}:{adm.tokens}", f"{entry_id}:{tokens}"]
        if not pairs and not day_change and not adm.holds_slot:
            return
        await self._finish(
            keys=keys,
            args=[
                repr(now),
                repr(grace),
                adm.id,
                1 if adm.holds_slot else 0,
                change,
                day_change,
                *pairs,
            ],
        )
        adm.holds_slot = False
        if tokens is not None:
            adm.tokens = tokens

    async def renew(self, adm: Admission, now: float, *, lease_until: float) -> bool:
        if not adm.holds_slot:
            return False
        keys = self._keys(adm.model, adm.user_id)
        ttl = max(self._ttl_ms, int((lease_until - now + 120.0) * 1000))
        held = await self._renew(keys=[keys[1], keys[3]], args=[repr(lease_until), adm.id, ttl])
        return int(held) == 1

    async def penalize(
        self, model: str, now: float, *, wait: float, duration: float, min_factor: float
    ) -> Penalty:
        key = self._keys(model, "")[4]
        ttl = int((max(wait, duration) + 120.0) * 1000)
        factor, block = await self._penalize(
            keys=[key], args=[repr(now), repr(wait), repr(duration), repr(min_factor), ttl]
        )
        return Penalty(float(factor), float(block))

    async def penalty(self, model: str, now: float) -> Penalty:
        block, factor, until = await self._redis.hmget(
            self._keys(model, "")[4], "block", "factor", "until"
        )
        active = until is not None and float(until) > now
        return Penalty(float(factor) if active and factor else 1.0, float(block or 0.0))

    async def full_window_wait(
        self, model: str, now: float, *, tokens: int, window: float
    ) -> float:
        live = await self._redis.zrangebyscore(
            self._keys(model, "")[0], f"({now - window!r}", "+inf", withscores=True
        )
        freed = 0
        for member, stamp in live:
            freed += int(member.rsplit(":", 1)[1])
            if freed >= tokens:
                return max(0.0, float(stamp) + window - now)
        return window

    async def spend_day(self, model: str, day: str, *, ttl: float) -> None:
        await self._redis.set(self._day_keys(model, day)[1], "1", px=_day_ttl_ms(ttl))

    async def day_usage(self, model: str, day: str) -> tuple[int, bool]:
        tok, spent = self._day_keys(model, day)
        used, marked = await self._redis.get(tok), await self._redis.exists(spent)
        return int(used or 0), bool(marked)

    async def in_flight(
        self, model: str, user_id: str | None = None, now: float = -math.inf
    ) -> int:
        """Slots held (leases ending after ``now``) — for tests and stats."""
        keys = self._keys(model, user_id or "")
        key = keys[3] if user_id is not None else keys[1]
        low = "-inf" if math.isinf(now) else f"({now!r}"
        return int(await self._redis.zcount(key, low, "+inf"))

    async def window_usage(self, model: str, now: float, *, window: float) -> tuple[int, int, int]:
        """The account's requests and tokens in the window ending ``now`` and its slots held,
        across every worker: a read-only look for the operator console."""
        keys = self._keys(model, "")
        live = await self._redis.zrangebyscore(keys[0], f"({now - window!r}", "+inf")
        tokens = sum(int(member.rsplit(":", 1)[1]) for member in live)
        slots = int(await self._redis.zcount(keys[1], f"({now!r}", "+inf"))
        return len(live), tokens, slots

    async def close(self) -> None:
        if self._owns:
            await self._redis.aclose()


def _day_ttl_ms(day_left: float) -> int:
    """A day's keys outlive the day by an hour (their names carry the date, so no overlap)."""
    return int((max(day_left, 0.0) + 3600.0) * 1000)
