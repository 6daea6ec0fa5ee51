"""Retention: the bookkeeping tables that would otherwise grow forever are trimmed in the
background, every ``RETENTION_EVERY`` seconds.

What goes, and why it is safe to forget:

- event claims (``processed_events``) older than ``EVENT_RETENTION_DAYS``: Telegram keeps an
  undelivered update for 24 hours and Slack retries within minutes, so an older claim can no
  longer stop a duplicate;
- heartbeat rows of workers silent for :data:`STOPPED_WORKERS_KEPT` (crashed ones: a clean stop
  removes its own row); turns they left open were closed long before;
- extractions that no conversation's library uses any more (forgotten everywhere) and that were
  made more than ``DOCUMENT_RETENTION_DAYS`` ago; until then a re-upload of the same file
  reuses them;
- images no conversation links any more (forgotten everywhere), stored more than
  ``DOCUMENT_RETENTION_DAYS`` ago, likewise.

Never touched: conversations with their messages, participants and library entries (the
history), the usage ledger, and ``instance_secrets`` (which does not grow).

"One worker at a time" in the simplest design that is correct: every DELETE is idempotent,
runs in short batches and skips rows another worker is deleting at that moment, so runs that
overlap are harmless rather than prevented, and no lock or lease is needed for correctness.
With Redis, workers also share a lease held for most of a period and never released, so of N
workers one does the work each period instead of N; if Redis is away the run goes ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.config import Settings
from core.leases import LeaseScripts, RedisLease
from storage import Database

log = logging.getLogger(__name__)

LEASE_KEY = "kimi:retention"
STOPPED_WORKERS_KEPT = timedelta(days=1)  # long enough to read a crashed worker's id in logs
FIRST_RUN_AFTER = 60.0  # seconds after start at most: not while the worker is starting up
STOP_WAIT = 10.0  # seconds a run in progress may take to finish its batch on shutdown
EVENT_BATCH = 5000
DOCUMENT_BATCH = 200


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How old each kind of row must be before it goes."""

    events: timedelta = timedelta(days=7)
    documents: timedelta = timedelta(days=30)
    workers: timedelta = STOPPED_WORKERS_KEPT

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            events=timedelta(days=settings.event_retention_days),
            documents=timedelta(days=settings.document_retention_days),
        )


@dataclass(frozen=True, slots=True)
class Pruned:
    """Rows one run deleted."""

    events: int = 0
    workers: int = 0
    documents: int = 0
    images: int = 0


class Retention:
    """The background job: :meth:`start` beside the worker's heartbeat, :meth:`stop` at exit."""

    def __init__(
        self,
        db: Database,
        policy: RetentionPolicy,
        *,
        every: float,
        redis: Any = None,
        owner: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch: int = EVENT_BATCH,
    ) -> None:
        self._db = db
        self._policy = policy
        self._every = every
        self._scripts = LeaseScripts(redis) if redis is not None else None
        self._owner = owner
        self._clock = clock
        self._batch = batch
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Run every ``every`` seconds from now on (never when ``every`` is 0)."""
        if self._every > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        """Let a run in progress finish its current batch, then end (cancelled if it hangs)."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_WAIT)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> Pruned | None:
        """One pass over every table; None when another worker has this period's turn."""
        if not await self._our_turn():
            return None
        now = self._clock()
        policy = self._policy
        events = await self._drain(
            lambda: self._db.events.prune(now - policy.events, limit=self._batch), self._batch
        )
        workers = await self._db.workers.prune(now - policy.workers)
        documents = await self._drain(
            lambda: self._db.documents.prune_unused(now - policy.documents, limit=DOCUMENT_BATCH),
            DOCUMENT_BATCH,
        )
        images = await self._drain(
            lambda: self._db.images.prune_unused(now - policy.documents, limit=DOCUMENT_BATCH),
            DOCUMENT_BATCH,
        )
        pruned = Pruned(events=events, workers=workers, documents=documents, images=images)
        if events or workers or documents or images:
            log.info(
                "retention: deleted %d event claims, %d stopped workers, %d unused documents, "
                "%d unused images",
                events,
                workers,
                documents,
                images,
            )
        return pruned

    async def _drain(self, batch: Callable[[], Awaitable[int]], size: int) -> int:
        """Batches until one comes back short, or shutdown begins (the next run goes on)."""
        total = 0
        while not self._stopping.is_set():
            deleted = await batch()
            total += deleted
            if deleted < size:
                break
        return total

    async def _our_turn(self) -> bool:
        if self._scripts is None:
            return True
        # Held for 90% of a period, so its holder's next run finds it lapsed.
        lease = RedisLease(self._scripts, LEASE_KEY, ttl=self._every * 0.9, owner=self._owner)
        try:
            return await lease.try_acquire()
        except Exception as exc:  # overlapping runs are harmless: go ahead without Redis
            log.debug("retention lease unavailable (%s); running anyway", type(exc).__name__)
            return True

    async def _loop(self) -> None:
        # Spread over workers started together; the first run comes soon after start so a
        # worker restarted more often than ``every`` still trims.
        delay = min(self._every, FIRST_RUN_AFTER) * random.uniform(0.5, 1.0)
        while not await self._stopped_within(delay):
            try:
                await self.run_once()
            except Exception as exc:  # e.g. the database is briefly away: next period
                log.warning("retention run failed: %s: %s", type(exc).__name__, exc)
            delay = self._every

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()
