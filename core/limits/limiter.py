"""The limiter: admit a Moonshot call only when the account and the user both have room.

Usage (one call, one permit)::

    async with limiter.admit(
        model=spec.id, user_id=user, prompt_tokens=estimate, max_tokens=max_tokens,
        on_wait=notify,                       # awaited once with the expected wait, if we queue
    ) as permit:
        completion = await kimi.stream(...)
        permit.reconcile(usage.prompt_tokens, usage.completion_tokens)

Two scopes per model: the **account** (the catalog's rpm/tpm/concurrency, lowered for a while
after Moonshot answers 429 anyway, see :meth:`Limiter.penalize`) and the **user** (the catalog's
``[user_limits]``). Over a limit, a call waits in a per-model **fair queue**: the user served
least recently goes first, so waiting users are served round-robin and a heavy user (many
calls, or calls again as soon as answered) cannot starve the others. A call whose expected
wait is longer than ``max_wait`` is refused at once with :class:`LimitExceeded` (saying when to
retry) rather than after a pointless wait; one still waiting after ``max_wait`` is refused the
same way. ``on_wait(expected_seconds)`` is awaited once when a call has to queue. The queue
(and its memory of who was served) is per process: with Redis, every worker's admissions
respect the shared limits, and each worker is fair among its own callers.

The concurrency slot is held from admission to the end of the ``async with`` block and released
on every exit: normal, exception, cancellation (shielded, so a second cancel cannot skip it). In
the Redis backend a slot is also a lease that a heartbeat renews, so a crashed worker's slot
frees itself.

**TPM and reconciliation.** Moonshot counts ``prompt + max_tokens`` of a request at admission,
not what it generates. So a request reserves ``prompt estimate + max_tokens`` and, by default
(``reconcile_mode="reservation"``), ``permit.reconcile(prompt, completion)`` corrects the
entry to ``actual prompt + max_tokens``: exactly what Moonshot charged against TPM. Only the
estimation error is corrected; mirroring Moonshot keeps our window equal to theirs, so
reconciling down to ``prompt + completion`` would let us admit more than Moonshot accepts.
``reconcile_mode="actual"`` (``prompt + completion``) exists for providers that count real use.

**Windows and margin.** RPM and TPM are sliding windows over a log of entries (never fixed
windows, which allow double bursts at their edges). The window is ``window + margin`` seconds
(default 60 + 0.5): our stamp is taken before the request crosses the network, so the margin
absorbs the difference in latency between two requests as Moonshot sees them.

**A TPM 429.** Moonshot's TPM 429 names no wait, so ``penalize(model, None, tokens=...)``
works one out: Moonshot has just said its window is full, so we take ours as full
too and pause the model until enough of our logged tokens leave it for this request
(``prompt + max_tokens``), or for a whole window when our log holds fewer (the rest is other
traffic on the account). The account limits are halved as after any 429.

**TPD.** A model with a ``tpd`` in the catalog also has a daily total: a call's tokens are
counted once (retries are not counted again) and reconciled like TPM, in the calendar day of
the catalog's ``day_timezone``. A call that would pass ``tpd`` is refused at once with
:class:`DailyLimitExceeded` (a :class:`core.errors.DailyLimitReached`): no wait helps before the
day turns. After Moonshot's own TPD 429, :meth:`Limiter.spend_day` refuses the model the same
way, in every worker, until the day turns; other models are not affected.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as day_start
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from core import metrics
from core.catalog import Catalog, Limits
from core.limits.backend import (
    Admission,
    Backend,
    Decision,
    InProcessBackend,
    Penalty,
    scaled,
)
from core.limits.clock import Clock, MonotonicClock
from core.limits.errors import ACCOUNT, USER, DailyLimitExceeded, LimitExceeded

log = logging.getLogger(__name__)

T = TypeVar("T")
WaitCallback = Callable[[float], Awaitable[None]]
RECONCILE_MODES = ("reservation", "actual")
DAILY_LIMITS = ("tpd", "tpd_spent")  # refusals that no wait can fix before the day turns


@dataclass(eq=False, slots=True)
class _Waiter:
    adm: Admission
    future: asyncio.Future[Decision]
    tried: asyncio.Event = field(default_factory=asyncio.Event)
    last: Decision | None = None  # the latest refusal the pump saw for this call
    last_at: float = 0.0


@dataclass(eq=False, slots=True)
class _Queue:
    """The calls waiting for one model, grouped by user.

    Order: the user served least recently goes first (users not served within ``memory``
    seconds, or never, first of all, in the order they started waiting). A user goes to the
    back as soon as one of their calls is admitted, so several waiting calls of one user are
    served round-robin with everyone else's, and a user who was just served cannot overtake
    those who have been waiting, even when they come back with a new call.
    """

    model: str
    users: dict[str, deque[_Waiter]] = field(default_factory=dict)
    joined: dict[str, int] = field(default_factory=dict)
    last_served: dict[str, float] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    account_last: Decision | None = None
    account_ready_at: float = 0.0
    seq: itertools.count[int] = field(default_factory=itertools.count)
    memory: float = 600.0

    def add(self, waiter: _Waiter) -> None:
        user = waiter.adm.user_id
        if user not in self.users:
            self.users[user] = deque()
            self.joined[user] = next(self.seq)
        self.users[user].append(waiter)

    def remove(self, waiter: _Waiter) -> bool:
        user = waiter.adm.user_id
        waiters = self.users.get(user)
        if waiters is None or waiter not in waiters:
            return False
        waiters.remove(waiter)
        if not waiters:
            del self.users[user]
            del self.joined[user]
        return True

    def served(self, user: str, now: float) -> None:
        """Note an admission of ``user`` (queued or not): they go to the back of the order."""
        self.last_served[user] = now
        if len(self.last_served) > 1000:
            horizon = now - self.memory
            for name in [n for n, t in self.last_served.items() if t < horizon]:
                del self.last_served[name]

    def order(self) -> list[str]:
        horizon = -math.inf
        if self.last_served:
            horizon = max(self.last_served.values()) - self.memory

        def rank(user: str) -> tuple[float, int]:
            served = self.last_served.get(user, -math.inf)
            return (served if served >= horizon else -math.inf, self.joined[user])

        return sorted(self.users, key=rank)

    def waiting(self) -> list[_Waiter]:
        return [w for user in self.order() for w in self.users[user]]

    def position(self, waiter: _Waiter) -> int:
        """How many queued calls are served before this one, in the order above."""
        user = waiter.adm.user_id
        mine = self.users.get(user)
        if not mine or waiter not in mine:
            return 0
        k = mine.index(waiter)
        ahead = k
        seen_self = False
        for other in self.order():
            if other == user:
                seen_self = True
                continue
            n = len(self.users[other])
            ahead += min(n, k) if seen_self else min(n, k + 1)
        return ahead


@dataclass(frozen=True, slots=True)
class LimitSnapshot:
    """One model's account limits and how full they are right now (see Limiter.snapshot)."""

    model: str
    limits: Limits  # the catalog's
    effective: Limits  # after a 429's penalty factor
    requests: int  # in the sliding RPM window
    tokens: int  # in the sliding TPM window (prompt + max_tokens, as Moonshot counts)
    in_flight: int  # concurrency slots held
    queued: int  # calls waiting in this worker's queue
    paused_for: float  # seconds until a 429's pause ends (0: none)
    factor: float  # the penalty factor on the limits (1: none)
    received_429: int  # this worker's 429s from Moonshot since it started
    tpd: int | None = None
    day_tokens: int = 0
    day_spent: bool = False


class Permit:
    """An admitted call. ``reconcile`` records real usage; the slot is freed on ``release``."""

    def __init__(self, limiter: Limiter, adm: Admission, prompt_tokens: int, max_tokens: int):
        self._limiter = limiter
        self._adm = adm
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.waited = 0.0
        self.attempts = 0
        self._final_tokens: int | None = None
        self._released = False
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return self._adm.id

    @property
    def model(self) -> str:
        return self._adm.model

    @property
    def user_id(self) -> str:
        return self._adm.user_id

    @property
    def tokens(self) -> int:
        """Tokens this call counts against TPM (reconciled, once known)."""
        return self._adm.tokens if self._final_tokens is None else self._final_tokens

    @property
    def stamps(self) -> list[float]:
        """When each attempt was counted in the windows (the first is the admission)."""
        return [stamp for _, stamp in self._adm.entries]

    @property
    def admitted_at(self) -> float:
        return self._adm.entries[0][1]

    @property
    def released(self) -> bool:
        return self._released

    def reconcile(self, prompt_tokens: int, completion_tokens: int = 0) -> int:
        """Correct the TPM entries with Moonshot's ``usage``; applied when the permit is released.

        Returns the tokens the entries will count (see the module docstring for the mode).
        """
        prompt = max(0, int(prompt_tokens))
        if self._limiter.reconcile_mode == "actual":
            tokens = prompt + max(0, int(completion_tokens))
        else:
            tokens = prompt + self.max_tokens
        self._final_tokens = tokens
        return tokens

    async def retry(self, delay: float = 0.0, on_wait: WaitCallback | None = None) -> None:
        """Count a client-side retry of this call, to be sent ``delay`` seconds from now.

        Moonshot counts every attempt against RPM/TPM. The retry keeps this permit's
        concurrency slot, queues fairly like a new call if the windows are full, and raises
        :class:`LimitExceeded` past ``max_wait``.
        """
        if self._released:
            raise RuntimeError("retry() on a released permit")
        adm = self._adm
        adm.lead, adm.take_slot = max(0.0, delay), False
        try:
            self.waited += await self._limiter._wait_admission(adm, on_wait)
        except (LimitExceeded, DailyLimitExceeded) as exc:
            metrics.record_limiter_refusal(adm.model, exc.scope, exc.limit)
            raise
        finally:
            adm.lead, adm.take_slot = 0.0, True
        self.attempts += 1

    async def release(self) -> None:
        """Free the slot (after the grace period) and apply the reconciliation. Idempotent."""
        if self._released:
            return
        self._released = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        await self._limiter._finish(self._adm, self._final_tokens)


class _AdmitContext:
    def __init__(self, limiter: Limiter, kwargs: dict[str, Any]) -> None:
        self._limiter = limiter
        self._kwargs = kwargs
        self._permit: Permit | None = None

    async def __aenter__(self) -> Permit:
        self._permit = await self._limiter.acquire(**self._kwargs)
        return self._permit

    async def __aexit__(self, *_exc: object) -> None:
        if self._permit is not None:
            await self._permit.release()


class Limiter:
    """Per-model account and per-user limits over a backend; see the module docstring."""

    def __init__(
        self,
        catalog: Catalog,
        backend: Backend | None = None,
        *,
        clock: Clock | None = None,
        max_wait: float = 60.0,
        window: float = 60.0,
        margin: float = 0.5,
        penalty_seconds: float = 300.0,
        min_factor: float = 0.125,
        lease_seconds: float = 30.0,
        release_grace: float = 0.1,
        poll_interval: float = 0.25,
        reconcile_mode: str = "reservation",
    ) -> None:
        if reconcile_mode not in RECONCILE_MODES:
            raise ValueError(f"reconcile_mode must be one of {RECONCILE_MODES}")
        self.catalog = catalog
        self.backend: Backend = backend or InProcessBackend()
        self.clock: Clock = clock or MonotonicClock()
        self.max_wait = max_wait
        self.window = window + margin
        self.penalty_seconds = penalty_seconds
        self.min_factor = min_factor
        self.lease_seconds = lease_seconds
        self.release_grace = release_grace
        self.poll_interval = poll_interval
        self.reconcile_mode = reconcile_mode
        self.zone = ZoneInfo(catalog.day_timezone)  # the day a TPD counts in
        self.busy = 0  # backend calls in flight (lets simulations know when the system is quiet)
        self._queues: dict[str, _Queue] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self.penalized: dict[str, int] = {}  # 429s Moonshot answered despite us, per model

    # -- public API ------------------------------------------------------------------------

    def admit(
        self,
        *,
        model: str,
        user_id: str,
        prompt_tokens: int,
        max_tokens: int,
        on_wait: WaitCallback | None = None,
    ) -> _AdmitContext:
        """``async with limiter.admit(...) as permit:`` — waits fairly, or raises LimitExceeded."""
        return _AdmitContext(
            self,
            {
                "model": model,
                "user_id": user_id,
                "prompt_tokens": prompt_tokens,
                "max_tokens": max_tokens,
                "on_wait": on_wait,
            },
        )

    async def acquire(
        self,
        *,
        model: str,
        user_id: str,
        prompt_tokens: int,
        max_tokens: int,
        on_wait: WaitCallback | None = None,
    ) -> Permit:
        """The permit without the context manager; the caller must ``await permit.release()``."""
        spec = self.catalog.get(model)
        prompt, reserve = max(0, int(prompt_tokens)), max(0, int(max_tokens))
        adm = Admission(
            id=uuid.uuid4().hex,
            model=spec.id,
            user_id=user_id,
            tokens=prompt + reserve,
            account=spec.limits,
            user=self.catalog.user_limits_for(spec.id),
            tpd=spec.tpd,
        )
        permit = Permit(self, adm, prompt, reserve)
        try:
            permit.waited = await self._wait_admission(adm, on_wait)
        except (LimitExceeded, DailyLimitExceeded) as exc:
            metrics.record_limiter_refusal(spec.id, exc.scope, exc.limit)
            raise
        if permit.waited > 0:
            metrics.record_limiter_wait(spec.id, permit.waited)
        permit.attempts = 1
        if self.backend.needs_heartbeat:
            permit._heartbeat = self._spawn(self._heartbeat(adm))
        return permit

    async def penalize(self, model: str, wait_seconds: float | None, *, tokens: int = 0) -> Penalty:
        """Moonshot answered 429 despite us: pause the model for ``wait_seconds`` and halve the
        account limits for ``penalty_seconds`` (halving again on each further 429, down to
        ``min_factor``), so other apps on the same account leave us room.

        ``wait_seconds=None`` (a TPM 429, which names no wait): pause until the TPM window,
        taken as full, has room for ``tokens`` (see :meth:`tpm_wait`)."""
        self.penalized[model] = self.penalized.get(model, 0) + 1
        now = self.clock.now()
        wait = wait_seconds
        if wait is None:
            wait = await self.tpm_wait(model, tokens)
            now = self.clock.now()
        penalty = await self._call(
            self.backend.penalize(
                model,
                now,
                wait=max(0.0, wait),
                duration=self.penalty_seconds,
                min_factor=self.min_factor,
            )
        )
        log.warning(
            "429 from Moonshot for %s: pausing %.1fs%s, account limits x%.3g for %.0fs",
            model,
            wait,
            " (our TPM window estimate)" if wait_seconds is None else "",
            penalty.factor,
            self.penalty_seconds,
        )
        queue = self._queues.get(model)
        if queue is not None:
            self._kick(queue)
        return penalty

    async def penalty(self, model: str) -> Penalty:
        return await self._call(self.backend.penalty(model, self.clock.now()))

    async def tpm_wait(self, model: str, tokens: int) -> float:
        """Seconds until the account's TPM window of ``model``, taken as full now (Moonshot said
        so), has room for ``tokens``: until that many of our logged tokens leave it, or a whole
        window when our log holds fewer."""
        need = max(1, min(int(tokens), self.catalog.get(model).tpm))
        return await self._call(
            self.backend.full_window_wait(model, self.clock.now(), tokens=need, window=self.window)
        )

    def today(self) -> tuple[str, float]:
        """Today in the catalog's ``day_timezone`` (ISO date), and the seconds until it turns."""
        wall = self.clock.wall()
        date = datetime.fromtimestamp(wall, self.zone).date()
        turns = datetime.combine(date + timedelta(days=1), day_start(), tzinfo=self.zone)
        return date.isoformat(), max(0.0, turns.timestamp() - wall)

    async def spend_day(self, model: str) -> None:
        """Moonshot answered a TPD 429 for ``model``: refuse it (in every worker sharing the
        backend) until the day turns, without asking Moonshot again."""
        day, left = self.today()
        await self._call(self.backend.spend_day(model, day, ttl=left))
        log.warning(
            "Moonshot's tokens per day for %s are spent: refusing it for %.0fs, until %s ends",
            model,
            left,
            day,
        )
        queue = self._queues.get(model)
        if queue is not None:
            self._kick(queue)

    async def day_usage(self, model: str) -> tuple[int, bool]:
        """Today's tokens counted against ``model``'s TPD, and whether the day is spent."""
        return await self._call(self.backend.day_usage(model, self.today()[0]))

    def waiting(self, model: str) -> int:
        queue = self._queues.get(model)
        return 0 if queue is None else len(queue.waiting())

    async def snapshot(self, model: str) -> LimitSnapshot:
        """What ``model``'s account limits look like now, for the operator console: read-only
        (windows are not pruned, nothing is recorded). With Redis, the windows, slots and
        penalty are every worker's; the queue and the 429 count are this worker's."""
        spec = self.catalog.get(model)
        now = self.clock.now()
        window_usage = getattr(self.backend, "window_usage", None)
        requests, tokens, slots = (0, 0, 0)
        if window_usage is not None:
            requests, tokens, slots = await self._call(
                window_usage(spec.id, now, window=self.window)
            )
        penalty = await self.penalty(spec.id)
        day_tokens, day_spent = (0, False)
        if spec.tpd is not None:
            day_tokens, day_spent = await self.day_usage(spec.id)
        return LimitSnapshot(
            model=spec.id,
            limits=spec.limits,
            effective=scaled(spec.limits, penalty.factor),
            requests=requests,
            tokens=tokens,
            in_flight=slots,
            queued=self.waiting(spec.id),
            paused_for=max(0.0, penalty.block_until - now),
            factor=penalty.factor,
            received_429=self.penalized.get(spec.id, 0),
            tpd=spec.tpd,
            day_tokens=day_tokens,
            day_spent=day_spent,
        )

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for queue in self._queues.values():
            if queue.task is not None:
                queue.task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.backend.close()

    # -- admission ---------------------------------------------------------------------------

    async def _wait_admission(self, adm: Admission, on_wait: WaitCallback | None) -> float:
        """Admit ``adm`` (recording it in the backend); returns the seconds waited."""
        queue = self._queue(adm.model)
        started = self.clock.now()
        first: Decision | None = None
        if not queue.users:
            first = await self._try(adm)
            if first.admitted:
                queue.served(adm.user_id, self.clock.now())
                return 0.0
            if first.limit in DAILY_LIMITS:
                raise self._daily(adm, first)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(adm, loop.create_future(), last=first, last_at=started)
        if first is not None and first.scope == ACCOUNT:
            self._note_account(queue, first, started, adm)
        queue.add(waiter)
        self._kick(queue)
        admitted = False
        try:
            if first is None:
                await self._first_pass(waiter)
            if not waiter.future.done():
                expected = self._expected(queue, waiter)
                if expected > self.max_wait - (self.clock.now() - started):
                    raise self._refusal(queue, waiter, expected)
                if on_wait is not None:
                    try:
                        await on_wait(expected)
                    except Exception:
                        log.exception("on_wait callback failed")
                remaining = started + self.max_wait - self.clock.now()
                await self._until(waiter.future, remaining)
            if not waiter.future.done():
                raise self._refusal(queue, waiter, self._expected(queue, waiter))
            waiter.future.result()
            admitted = True
            return self.clock.now() - started
        finally:
            if not admitted:
                self._abandon(queue, waiter)

    async def _try(self, adm: Admission) -> Decision:
        adm.day, adm.day_left = self.today()
        now = self.clock.now()
        return await self._call(
            self.backend.acquire(adm, now, window=self.window, lease_until=now + self.lease_seconds)
        )

    def _abandon(self, queue: _Queue, waiter: _Waiter) -> None:
        """A waiter leaving (refused, cancelled): forget it; undo an admission it never used."""
        queue.remove(waiter)
        future = waiter.future
        if future.done() and not future.cancelled() and future.exception() is None:
            self._spawn(self._finish(waiter.adm, None))
        elif not future.done():
            future.cancel()
        self._kick(queue)

    async def _first_pass(self, waiter: _Waiter) -> None:
        tried = asyncio.ensure_future(waiter.tried.wait())
        try:
            await asyncio.wait({tried, waiter.future}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tried.cancel()

    async def _until(self, future: asyncio.Future[Any], seconds: float) -> None:
        if future.done() or seconds <= 0:
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({sleeper, future}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()

    # -- the fair queue ------------------------------------------------------------------------

    def _queue(self, model: str) -> _Queue:
        queue = self._queues.get(model)
        if queue is None:
            queue = self._queues[model] = _Queue(model)
        return queue

    def _kick(self, queue: _Queue) -> None:
        queue.wake.set()
        if queue.users and queue.task is None:
            queue.task = asyncio.get_running_loop().create_task(self._pump(queue))

    async def _pump(self, queue: _Queue) -> None:
        try:
            while queue.users:
                queue.wake.clear()
                sleep_for = await self._dispatch(queue)
                if not queue.users:
                    break
                await self._wait_change(queue, sleep_for)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a backend failure must not leave callers waiting forever
            log.exception("limiter queue for %s failed", queue.model)
            for waiter in queue.waiting():
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
        finally:
            queue.task = None

    async def _dispatch(self, queue: _Queue) -> float | None:
        """Admit waiting calls in round-robin order; returns how long nothing can change."""
        considered = queue.waiting()
        soonest: float | None = None
        progressed = True
        while progressed and queue.users:
            progressed = False
            soonest = None
            slots_full = False
            for user in queue.order():
                waiters = queue.users.get(user)
                if not waiters:
                    continue
                waiter = waiters[0]
                if slots_full and waiter.adm.take_slot:
                    continue
                if waiter.future.done():
                    queue.remove(waiter)
                    progressed = True
                    break
                decision = await self._try(waiter.adm)
                if decision.limit in DAILY_LIMITS:  # refused outright, never queued
                    queue.remove(waiter)
                    if not waiter.future.done():
                        waiter.future.set_exception(self._daily(waiter.adm, decision))
                    progressed = True
                    break
                if decision.admitted:
                    queue.remove(waiter)
                    queue.served(user, self.clock.now())
                    if waiter.future.done():  # left while we asked: give the slot back
                        self._spawn(self._finish(waiter.adm, None))
                    else:
                        waiter.future.set_result(decision)
                    progressed = True
                    break
                now = self.clock.now()
                waiter.last, waiter.last_at = decision, now
                hint = self._hint(decision)
                if hint is not None:
                    soonest = hint if soonest is None else min(soonest, hint)
                if decision.scope == ACCOUNT:
                    # Head of line for the account: letting a later user's smaller call pass
                    # would starve this one. Users held back only by their own limit are skipped,
                    # and when all slots are taken, retries of running calls (which keep their
                    # slot) may still pass.
                    self._note_account(queue, decision, now, waiter.adm)
                    if decision.limit == "concurrency":
                        slots_full = True
                        continue
                    break
        for waiter in considered:
            waiter.tried.set()
        return soonest

    def _hint(self, decision: Decision) -> float | None:
        if decision.wait is None:
            return self.poll_interval if self.backend.shared else None
        if decision.limit == "concurrency" and self.backend.shared:
            return min(max(decision.wait, 0.001), self.poll_interval)
        return max(decision.wait, 0.001)

    async def _wait_change(self, queue: _Queue, seconds: float | None) -> None:
        waker = asyncio.ensure_future(queue.wake.wait())
        pending: set[asyncio.Future[Any]] = {waker}
        if seconds is not None:
            pending.add(asyncio.ensure_future(self.clock.sleep(seconds)))
        try:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pending:
                task.cancel()

    # -- estimates -----------------------------------------------------------------------------

    def _interval(self, adm: Admission) -> float:
        """Seconds between admissions when the account is saturated, for a call of this size."""
        limits = adm.account
        return max(self.window / limits.rpm, self.window * adm.tokens / max(1, limits.tpm))

    def _note_account(self, queue: _Queue, decision: Decision, now: float, adm: Admission) -> None:
        queue.account_last = decision
        wait = decision.wait if decision.wait is not None else self._interval(adm)
        queue.account_ready_at = now + wait

    def _expected(self, queue: _Queue, waiter: _Waiter) -> float:
        """Seconds until this call is likely admitted: its own limit, or its turn in the queue."""
        now = self.clock.now()
        adm = waiter.adm
        account = max(0.0, queue.account_ready_at - now)
        account += queue.position(waiter) * self._interval(adm)
        user = 0.0
        last = waiter.last
        if last is not None and last.scope == USER:
            own = last.wait if last.wait is not None else self._interval(adm)
            user = max(0.0, waiter.last_at + own - now)
            mine = queue.users.get(adm.user_id)
            if mine and waiter in mine:
                limits = adm.user
                per_call = max(self.window / limits.rpm, self.window * adm.tokens / limits.tpm)
                user += mine.index(waiter) * per_call
        return max(account, user)

    def _daily(self, adm: Admission, decision: Decision) -> DailyLimitExceeded:
        reason = "spent" if decision.limit == "tpd_spent" else "tpd"
        log.warning("refusing a call of %s: its tokens per day are spent (%s)", adm.model, reason)
        return DailyLimitExceeded(adm.model, decision.wait or 0.0, reason=reason)

    def _refusal(self, queue: _Queue, waiter: _Waiter, expected: float) -> LimitExceeded:
        last = waiter.last
        if last is not None and last.scope == USER:
            scope, limit = USER, last.limit or "rpm"
        else:
            account = queue.account_last
            scope, limit = ACCOUNT, (account.limit if account and account.limit else "rpm")
        return LimitExceeded(expected, scope, limit=limit, model=waiter.adm.model)

    # -- release, leases, plumbing ---------------------------------------------------------------

    async def _finish(self, adm: Admission, tokens: int | None) -> None:
        queue = self._queue(adm.model)
        if not self.backend.shared:
            # The in-process backend never suspends: this runs to the end in one step, so no
            # cancellation can cut it, and it needs no shielded task.
            try:
                await self.backend.finish(
                    adm, self.clock.now(), tokens=tokens, grace=self.release_grace
                )
            finally:
                if queue.users:
                    self._kick(queue)
            return
        task = asyncio.ensure_future(
            self._call(
                self.backend.finish(adm, self.clock.now(), tokens=tokens, grace=self.release_grace)
            )
        )

        def done(finished: asyncio.Future[None]) -> None:
            if not finished.cancelled() and finished.exception() is not None:
                log.error("could not release a limiter slot: %r", finished.exception())
            if queue.users:
                self._kick(queue)

        task.add_done_callback(done)
        await asyncio.shield(task)

    async def _heartbeat(self, adm: Admission) -> None:
        period = max(0.01, self.lease_seconds / 3)
        while True:
            await self.clock.sleep(period)
            now = self.clock.now()
            try:
                held = await self._call(
                    self.backend.renew(adm, now, lease_until=now + self.lease_seconds)
                )
            except Exception:
                log.exception("could not renew a limiter lease")
                continue
            if not held:
                log.warning("limiter lease of %s was lost (expired before renewal)", adm.id)
                return

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _call(self, coro: Awaitable[T]) -> T:
        self.busy += 1
        try:
            return await coro
        finally:
            self.busy -= 1
