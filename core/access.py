"""Who may use the bot and who is an admin, by platform-qualified ids shared by every adapter.

The allow-lists are ``ALLOWED_USERS``/``ALLOWED_CHATS`` plus the entries an operator added in
the console (:class:`ConsoleEntries`, stored in the database). The check runs on every message,
so it reads an in-memory copy: a write in the console updates this worker's copy at once, and
every worker re-reads the table every :data:`REFRESH_EVERY` seconds (the longest another worker
may still use the previous list).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from core.types import Incoming

log = logging.getLogger(__name__)

USER = "user"
CHAT = "chat"
REFRESH_EVERY = 5.0  # seconds

Loader = Callable[[], Awaitable[Iterable[tuple[str, str]]]]  # (kind, value) pairs


class ConsoleEntries:
    """The allow-list entries added in the operator console, kept fresh in memory."""

    def __init__(self, load: Loader, *, every: float = REFRESH_EVERY) -> None:
        self._load = load
        self._every = every
        self.users: frozenset[str] = frozenset()
        self.chats: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None

    def replace(self, pairs: Iterable[tuple[str, str]]) -> None:
        pairs = list(pairs)
        self.users = frozenset(value for kind, value in pairs if kind == USER)
        self.chats = frozenset(value for kind, value in pairs if kind == CHAT)

    async def refresh(self) -> None:
        self.replace(await self._load())

    def start(self) -> None:
        """Re-read the table every few seconds (the other workers' console writes)."""
        if self._task is None:
            self._task = asyncio.create_task(self._keep_fresh(), name="access-entries")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.refresh()
            except Exception as exc:  # the last good copy stays in force
                log.warning("could not re-read the console's allow-list: %s", type(exc).__name__)


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Empty allow-lists mean everyone is allowed; admins are always allowed.

    ``PLATFORM:*`` in the user list admits every user of that platform (``web:*``: anyone who
    passed the web chat's login). ``console`` adds the entries stored by the operator console.
    """

    admins: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()
    allowed_chats: frozenset[str] = frozenset()
    console: ConsoleEntries | None = field(default=None, compare=False)

    @classmethod
    def from_lists(
        cls,
        admins: Iterable[str],
        allowed_users: Iterable[str],
        allowed_chats: Iterable[str],
        console: ConsoleEntries | None = None,
    ) -> AccessPolicy:
        return cls(frozenset(admins), frozenset(allowed_users), frozenset(allowed_chats), console)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def users(self) -> frozenset[str]:
        """Every allowed user id: the environment's and the console's."""
        if self.console is None or not self.console.users:
            return self.allowed_users
        return self.allowed_users | self.console.users

    def chats(self) -> frozenset[str]:
        if self.console is None or not self.console.chats:
            return self.allowed_chats
        return self.allowed_chats | self.console.chats

    def allows(self, incoming: Incoming) -> bool:
        if self.is_admin(incoming.author.id):
            return True
        users, chats = self.users(), self.chats()
        if not users and not chats:
            return True
        chat_id = f"{incoming.key.platform}:{incoming.key.chat}"
        everyone_here = f"{incoming.key.platform}:*"  # e.g. web:* admits every web chat login
        return incoming.author.id in users or chat_id in chats or everyone_here in users
