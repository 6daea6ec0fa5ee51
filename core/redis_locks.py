"""Conversation locks shared by every worker through Redis, with fencing tokens.

A turn holds ``<prefix>:{<conversation id>}`` as a :class:`~core.leases.RedisLease` of
``LOCK_LEASE`` seconds that a background task renews every third of it, so a long answer keeps
the lock and a crashed worker's lock lapses by itself. Waiters poll with a short backoff (10 ms
growing to 200 ms); :class:`core.locks.LocalFirst` in front keeps that to one poller per worker
and conversation.

Fencing: each acquisition also increments ``<prefix>:{<id>}:fence`` in the same script, and the
token is published in :data:`core.locks.current_fence`. The assistant records it on the conversation
row before the turn reads anything (``conversations.turn_fence``, only ever raised), so a worker
whose lease lapsed unnoticed (a long pause, a partition) and was taken over finds a newer token
there and stops instead of answering alongside the new owner. If Redis lost its data (the counter
restarted below the stored token) the owner resynchronizes the counter and goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from core import metrics
from core.leases import LeaseScripts, RedisLease
from core.locks import current_fence

log = logging.getLogger(__name__)


class RedisLocks:
    """``hold(conversation_id)`` across processes; yields True if it had to wait."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "kimi:lock",
        lease: float = 30.0,
        poll_min: float = 0.01,
        poll_max: float = 0.2,
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self._scripts = LeaseScripts(client)
        self._prefix = prefix
        self.lease = lease
        self._poll_min = poll_min
        self._poll_max = poll_max
        self._owns_client = owns_client
        self._background: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisLocks:
        import redis.asyncio as redis

        return cls(redis.from_url(url, decode_responses=True), owns_client=True, **options)

    def new_lease(self, conversation_id: int) -> RedisLease:
        key = f"{self._prefix}:{{{conversation_id}}}"
        return RedisLease(self._scripts, key, ttl=self.lease, fence_key=f"{key}:fence")

    @asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[bool]:
        lease = self.new_lease(conversation_id)
        waited = False
        delay = self._poll_min
        while not await self._acquire(lease):
            waited = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._poll_max)
        keeper = asyncio.create_task(self._keep(lease, conversation_id), name="lock-renewal")
        token = current_fence.set(lease)
        try:
            yield waited
        finally:
            current_fence.reset(token)
            keeper.cancel()
            # Shielded: a second cancellation must not skip the release (it would cost the next
            # turn a whole lease of waiting).
            await asyncio.shield(self._spawn(self._release(lease, conversation_id)))

    async def _acquire(self, lease: RedisLease) -> bool:
        """One attempt. If we are cancelled while Redis answers, a lease we did get is released."""
        attempt = asyncio.ensure_future(lease.try_acquire())
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:

            def give_back(done: asyncio.Future[bool]) -> None:
                if not done.cancelled() and done.exception() is None and done.result():
                    self._spawn(lease.release())

            attempt.add_done_callback(give_back)
            raise

    async def _keep(self, lease: RedisLease, conversation_id: int) -> None:
        period = max(0.01, lease.ttl_ms / 3000)
        while True:
            await asyncio.sleep(period)
            try:
                held = await lease.renew()
            except Exception as exc:  # Redis briefly away: the lease has two more chances
                log.warning("could not renew the lock of conversation %d: %s", conversation_id, exc)
                continue
            if not held:
                log.error(
                    "the lock of conversation %d lapsed while its turn was running "
                    "(a pause longer than LOCK_LEASE=%.0fs?)",
                    conversation_id,
                    self.lease,
                )
                metrics.record_lock_lost()
                return

    async def _release(self, lease: RedisLease, conversation_id: int) -> None:
        try:
            released = await lease.release()
        except Exception as exc:
            log.warning(
                "could not release the lock of conversation %d (%s); it lapses within %.0fs",
                conversation_id,
                exc,
                self.lease,
            )
            return
        if not released and not lease.lost:
            log.warning(
                "the lock of conversation %d had lapsed before its release", conversation_id
            )
            metrics.record_lock_lost()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def close(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._owns_client:
            await self._client.aclose()
