"""This worker's presence in the shared database, and recovery of turns dead workers left open.

Every worker heartbeats; a sweeper closes answers still ``in_progress`` whose worker stopped
heartbeating (a crash, ``kill -9``), marks them, and tells each chat once through its adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from core import texts
from core.vocabulary import ConversationKey
from storage import Database

log = logging.getLogger(__name__)

Notify = Callable[[ConversationKey, str], Awaitable[None]]

# No user text comes with a recovery sweep (and a group's members may write either language),
# so the notice says it in English, then in Chinese.
INTERRUPTED_NOTICE = texts.both("worker_interrupted")


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class WorkerPresence:
    def __init__(
        self,
        db: Database,
        worker_id: str,
        notify: Notify,
        *,
        heartbeat_every: float = 10.0,
        dead_after: float = 45.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self.worker_id = worker_id
        self._notify = notify
        self._every = heartbeat_every
        self._dead_after = dead_after
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """First heartbeat and recovery now; a database that is away at this moment is not
        fatal (the worker keeps serving what it can and the next beat tries again).

        Then heartbeats and recovery sweeps repeat as two loops: telling chats about
        interrupted turns can wait (on a platform's flood control), and must never delay this
        worker's own heartbeat so long that the others take it for dead.
        """
        await self._beat()
        await self._sweep()
        self._tasks = [
            asyncio.create_task(self._repeat(self._beat), name="worker-heartbeat"),
            asyncio.create_task(self._repeat(self._sweep), name="worker-recovery"),
        ]

    async def _beat(self) -> None:
        try:
            await self._db.workers.heartbeat(self.worker_id, socket.gethostname(), os.getpid())
        except Exception as exc:  # the database may be briefly away; try again next beat
            log.warning("heartbeat failed: %s", type(exc).__name__)

    async def _sweep(self) -> None:
        try:
            await self.recover()
        except Exception as exc:  # the database may be briefly away; try again next sweep
            log.warning("recovery sweep failed: %s", type(exc).__name__)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self._db.workers.unregister(self.worker_id)

    async def recover(self) -> int:
        """Close turns of workers that stopped heartbeating; tell each chat once."""
        now = self._clock()
        cutoff = now - timedelta(seconds=self._dead_after)
        closed = await self._db.workers.close_abandoned(
            alive_since=cutoff, started_before=now, reason="interrupted: its worker stopped"
        )
        for turn in closed:
            log.warning(
                "closed turn %d in %s left in progress by a stopped worker",
                turn.message_id,
                turn.key.label(),
            )
            try:
                await self._notify(turn.key, INTERRUPTED_NOTICE)
            except Exception as exc:
                log.warning(
                    "could not tell %s about the interrupted turn: %s", turn.key.label(), exc
                )
        return len(closed)

    async def _repeat(self, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(self._every)
            await step()
