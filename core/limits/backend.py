"""Where the limiter keeps its windows: the interface and the in-process backend.

Both backends implement the same atomic decision: *for this request at this instant, do the
user's own limits and the account's (penalized) limits all have room?* and, if so, record it in
both scopes in the same step. Only the storage differs: Python structures here (atomic because
the methods never await), sorted sets and Lua scripts in :mod:`core.limits.redis_backend`.

Semantics shared by both backends
---------------------------------
* **RPM/TPM** are sliding windows: a log of ``(stamp, tokens)`` entries. A new entry stamped
  ``s`` is admitted when the entries with a stamp in ``(s - window, +inf)`` number fewer than RPM
  and their tokens plus the new ones fit in TPM. Counting every entry newer than ``s - window``
  (including ones stamped later than ``s``, see ``lead``) bounds every window that contains ``s``,
  so no 60-second window can ever hold more than the limit.
* **Concurrency** is a set of slots with a lease end: ``inf`` while held in-process, a renewed
  lease in Redis (so a crashed worker's slot expires), ``now + grace`` once released (the server
  may still be finishing the response when our client has read ``[DONE]``).
* **Penalty** (after a 429 from Moonshot): admissions to the model are blocked until
  ``block_until`` and the account limits are multiplied by ``factor`` until ``factor_until``.
* A request bigger than a TPM limit is counted as exactly the limit, so it can pass when the
  window is empty instead of waiting forever.
* **TPD** (the catalog's optional ``tpd`` of a model) is a running total per model and calendar
  day (``Admission.day``, a date in the catalog's ``day_timezone``, computed by the limiter). A
  first admission is refused with ``tpd`` when the total plus its tokens (capped at the limit, as
  for TPM) would pass ``tpd``; admitted, its tokens are added, and ``finish`` corrects them
  with the reconciled count. Retries are not counted again. Checked before every other limit:
  no wait within a request's patience can fix it.
* **Spent days** (after Moonshot's TPD 429, see :meth:`Backend.spend_day`): every attempt of
  the model is refused with ``tpd_spent`` until the day turns.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.catalog import Limits
from core.limits.errors import ACCOUNT, USER


@dataclass(slots=True)
class Admission:
    """One request (and its retries) as the backend sees it; owned by a :class:`Permit`."""

    id: str
    model: str
    user_id: str
    tokens: int
    account: Limits
    user: Limits
    lead: float = 0.0  # the request will be sent this long after admission (a client retry delay)
    take_slot: bool = True
    tpd: int | None = None  # the model's tokens per day, when the catalog knows it
    day: str = ""  # today in the catalog's day_timezone (set by the limiter before each attempt)
    day_left: float = 0.0  # seconds until that day turns
    day_counted: str = ""  # the day whose TPD total holds this request's tokens ("" if none)
    entries: list[tuple[str, float]] = field(default_factory=list)  # (entry id, stamp)
    holds_slot: bool = False

    def next_entry_id(self) -> str:
        return f"{self.id}#{len(self.entries)}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one admission attempt.

    When refused: ``scope`` (``account``/``user``), ``limit`` (``rpm``, ``tpm``, ``concurrency``,
    ``cooldown``, ``tpd``, ``tpd_spent``) and ``wait``, the seconds until that limit can have room
    again (for concurrency: until the earliest slot's lease ends; ``None`` when that is unknown;
    for the daily ones: until the day turns).
    """

    admitted: bool
    scope: str | None = None
    limit: str | None = None
    wait: float | None = None
    stamp: float | None = None


@dataclass(frozen=True, slots=True)
class Penalty:
    factor: float = 1.0
    block_until: float = 0.0


class Backend(Protocol):
    """Storage of the limiter's windows and slots; every method is one atomic step."""

    shared: bool  # other processes share the state (waiters poll) and calls do I/O (shielded)
    needs_heartbeat: bool  # True when held slots are leases that must be renewed

    async def acquire(
        self, adm: Admission, now: float, *, window: float, lease_until: float
    ) -> Decision: ...

    async def finish(
        self, adm: Admission, now: float, *, tokens: int | None, grace: float
    ) -> None: ...

    async def renew(self, adm: Admission, now: float, *, lease_until: float) -> bool: ...

    async def penalize(
        self, model: str, now: float, *, wait: float, duration: float, min_factor: float
    ) -> Penalty: ...

    async def penalty(self, model: str, now: float) -> Penalty: ...

    async def full_window_wait(
        self, model: str, now: float, *, tokens: int, window: float
    ) -> float:
        """Seconds until ``tokens`` of the account's logged tokens have left the window (all of
        ``window`` when the log holds fewer): the wait for room if the window is full now."""
        ...

    async def spend_day(self, model: str, day: str, *, ttl: float) -> None:
        """Refuse every attempt of ``model`` during ``day`` (``ttl``: seconds it has left)."""
        ...

    async def day_usage(self, model: str, day: str) -> tuple[int, bool]:
        """The tokens counted for ``model`` on ``day``, and whether the day is marked spent."""
        ...

    async def close(self) -> None: ...


def scaled(limits: Limits, factor: float) -> Limits:
    """Account limits under a penalty factor (never below 1)."""
    if factor >= 1.0:
        return limits
    return Limits(
        rpm=max(1, math.floor(limits.rpm * factor)),
        tpm=max(1, math.floor(limits.tpm * factor)),
        concurrency=max(1, math.floor(limits.concurrency * factor)),
    )


@dataclass(slots=True)
class _Scope:
    """One scope's log (sorted by stamp) with a running token sum, and its slots."""

    stamps: list[float] = field(default_factory=list)
    entries: list[list[Any]] = field(default_factory=list)  # [stamp, entry id, tokens]
    by_id: dict[str, list[Any]] = field(default_factory=dict)
    used: int = 0  # tokens of every stored entry
    slots: dict[str, float] = field(default_factory=dict)  # slot id -> lease end
    finite: int = 0  # slots with a finite lease (released, in their grace period)

    def prune(self, now: float, window: float) -> None:
        cut = bisect.bisect_right(self.stamps, now - window)
        if cut:
            for _, entry_id, spent in self.entries[:cut]:
                self.used -= spent
                del self.by_id[entry_id]
            del self.stamps[:cut]
            del self.entries[:cut]
        if self.finite:
            expired = [slot for slot, end in self.slots.items() if end <= now]
            for slot in expired:
                del self.slots[slot]
            self.finite = sum(1 for end in self.slots.values() if not math.isinf(end))

    def refusal(
        self, limits: Limits, tokens: int, stamp: float, window: float, now: float, slot: bool
    ) -> tuple[str, float | None] | None:
        """Why this scope cannot take the request now, with the wait; None when it can."""
        failures: list[tuple[str, float | None]] = []
        if slot and len(self.slots) >= limits.concurrency:
            ends = sorted(self.slots.values())
            end = ends[len(self.slots) - limits.concurrency]
            failures.append(("concurrency", None if math.isinf(end) else max(0.0, end - now)))
        start = bisect.bisect_right(self.stamps, stamp - window)  # 0 unless stamped ahead
        count = len(self.stamps) - start
        if count >= limits.rpm:
            failures.append(("rpm", self.stamps[len(self.stamps) - limits.rpm] + window - stamp))
        need = min(tokens, limits.tpm)
        used = self.used - sum(e[2] for e in self.entries[:start])
        if used + need > limits.tpm:
            for when, _, spent in self.entries[start:]:
                used -= spent
                if used + need <= limits.tpm:
                    failures.append(("tpm", when + window - stamp))
                    break
        return _worst(failures)

    def add(self, stamp: float, entry_id: str, tokens: int) -> None:
        index = bisect.bisect_right(self.stamps, stamp)
        record = [stamp, entry_id, tokens]
        self.stamps.insert(index, stamp)
        self.entries.insert(index, record)
        self.by_id[entry_id] = record
        self.used += tokens

    def retoken(self, entry_ids: list[str], tokens: int) -> None:
        for entry_id in entry_ids:
            record = self.by_id.get(entry_id)
            if record is not None:
                self.used += tokens - record[2]
                record[2] = tokens

    def release(self, slot: str, now: float, grace: float) -> None:
        if slot not in self.slots:
            return
        if grace > 0:
            if math.isinf(self.slots[slot]):
                self.finite += 1
            self.slots[slot] = now + grace
        else:
            del self.slots[slot]


def _worst(failures: list[tuple[str, float | None]]) -> tuple[str, float | None] | None:
    """The failure that frees last; a concurrency wait of None only when it is the only one."""
    if not failures:
        return None
    timed = [f for f in failures if f[1] is not None]
    if not timed:
        return failures[0]
    return max(timed, key=lambda f: f[1] or 0.0)


class InProcessBackend:
    """Windows in this process's memory: right for one worker; the default."""

    shared = False
    needs_heartbeat = False

    def __init__(self) -> None:
        self._scopes: dict[tuple[str, ...], _Scope] = {}
        self._penalties: dict[str, tuple[float, float, float]] = {}  # block, factor, until
        self._days: dict[str, tuple[str, int]] = {}  # model -> (day, tokens counted that day)
        self._spent: dict[str, str] = {}  # model -> the day Moonshot said its TPD was reached

    def _scope(self, *key: str) -> _Scope:
        scope = self._scopes.get(key)
        if scope is None:
            scope = self._scopes[key] = _Scope()
        return scope

    async def acquire(
        self, adm: Admission, now: float, *, window: float, lease_until: float
    ) -> Decision:
        stamp = now + adm.lead
        daily = self._day_refusal(adm)
        if daily is not None:
            return daily
        user = self._scope(adm.model, USER, adm.user_id)
        account = self._scope(adm.model, ACCOUNT)
        user.prune(now, window)
        account.prune(now, window)
        why = user.refusal(adm.user, adm.tokens, stamp, window, now, adm.take_slot)
        if why is not None:
            return Decision(False, USER, why[0], why[1])
        penalty = await self.penalty(adm.model, now)
        if penalty.block_until > stamp:
            return Decision(False, ACCOUNT, "cooldown", penalty.block_until - stamp)
        limits = scaled(adm.account, penalty.factor)
        why = account.refusal(limits, adm.tokens, stamp, window, now, adm.take_slot)
        if why is not None:
            return Decision(False, ACCOUNT, why[0], why[1])
        entry_id = adm.next_entry_id()
        for scope in (user, account):
            scope.add(stamp, entry_id, adm.tokens)
            if adm.take_slot:
                scope.slots[adm.id] = math.inf
        adm.entries.append((entry_id, stamp))
        if adm.take_slot:
            adm.holds_slot = True
        if adm.tpd is not None and not adm.day_counted:
            self._days[adm.model] = (adm.day, self._day_total(adm.model, adm.day) + adm.tokens)
            adm.day_counted = adm.day
        return Decision(True, stamp=stamp)

    def _day_total(self, model: str, day: str) -> int:
        counted_day, used = self._days.get(model, (day, 0))
        return used if counted_day == day else 0

    def _day_refusal(self, adm: Admission) -> Decision | None:
        if self._spent.get(adm.model) == adm.day:
            return Decision(False, ACCOUNT, "tpd_spent", adm.day_left)
        if adm.tpd is not None and not adm.day_counted:
            used = self._day_total(adm.model, adm.day)
            if used + min(adm.tokens, adm.tpd) > adm.tpd:
                return Decision(False, ACCOUNT, "tpd", adm.day_left)
        return None

    async def finish(self, adm: Admission, now: float, *, tokens: int | None, grace: float) -> None:
        if tokens is not None and adm.day_counted:
            day, used = self._days.get(adm.model, ("", 0))
            if day == adm.day_counted:
                self._days[adm.model] = (day, max(0, used + tokens - adm.tokens))
        scopes = [self._scope(adm.model, USER, adm.user_id), self._scope(adm.model, ACCOUNT)]
        if tokens is not None and adm.entries:
            ids = [eid for eid, _ in adm.entries]
            for scope in scopes:
                scope.retoken(ids, tokens)
        if adm.holds_slot:
            for scope in scopes:
                scope.release(adm.id, now, grace)
            adm.holds_slot = False
        if tokens is not None:
            adm.tokens = tokens

    async def renew(self, adm: Admission, now: float, *, lease_until: float) -> bool:
        return adm.holds_slot

    async def penalize(
        self, model: str, now: float, *, wait: float, duration: float, min_factor: float
    ) -> Penalty:
        block, factor, until = self._penalties.get(model, (0.0, 1.0, 0.0))
        if until <= now:
            factor = 1.0
        factor = max(min_factor, factor * 0.5)
        block = max(block, now + wait)
        self._penalties[model] = (block, factor, now + duration)
        return Penalty(factor, block)

    async def penalty(self, model: str, now: float) -> Penalty:
        block, factor, until = self._penalties.get(model, (0.0, 1.0, 0.0))
        return Penalty(factor if until > now else 1.0, block)

    async def full_window_wait(
        self, model: str, now: float, *, tokens: int, window: float
    ) -> float:
        scope = self._scope(model, ACCOUNT)
        scope.prune(now, window)
        freed = 0
        for stamp, _, spent in scope.entries:
            freed += spent
            if freed >= tokens:
                return max(0.0, stamp + window - now)
        return window

    async def spend_day(self, model: str, day: str, *, ttl: float) -> None:
        self._spent[model] = day

    async def day_usage(self, model: str, day: str) -> tuple[int, bool]:
        return self._day_total(model, day), self._spent.get(model) == day

    async def in_flight(
        self, model: str, user_id: str | None = None, now: float = -math.inf
    ) -> int:
        """Slots held (leases ending after ``now``) — for tests and stats."""
        key = (model, USER, user_id) if user_id is not None else (model, ACCOUNT)
        scope = self._scopes.get(key)
        return 0 if scope is None else sum(1 for end in scope.slots.values() if end > now)

    async def window_usage(self, model: str, now: float, *, window: float) -> tuple[int, int, int]:
        """The account's requests and tokens in the window ending ``now`` and its slots held:
        a read-only look for the operator console (nothing is pruned or recorded)."""
        scope = self._scopes.get((model, ACCOUNT))
        if scope is None:
            return 0, 0, 0
        start = bisect.bisect_right(scope.stamps, now - window)
        tokens = sum(entry[2] for entry in scope.entries[start:])
        slots = sum(1 for end in scope.slots.values() if end > now)
        return len(scope.stamps) - start, tokens, slots

    async def close(self) -> None:
        self._scopes.clear()
        self._days.clear()
        self._spent.clear()
