"""Who may use the bot and who is an admin, by platform-qualified ids shared by every adapter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.types import Incoming


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Empty allow-lists mean everyone is allowed; admins are always allowed.

    ``PLATFORM:*`` in the user list admits every user of that platform (``web:*``: anyone who
    passed the web chat's login).
    """

    admins: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()
    allowed_chats: frozenset[str] = frozenset()

    @classmethod
    def from_lists(
        cls, admins: Iterable[str], allowed_users: Iterable[str], allowed_chats: Iterable[str]
    ) -> AccessPolicy:
        return cls(frozenset(admins), frozenset(allowed_users), frozenset(allowed_chats))

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def allows(self, incoming: Incoming) -> bool:
        if self.is_admin(incoming.author.id):
            return True
        if not self.allowed_users and not self.allowed_chats:
            return True
        chat_id = f"{incoming.key.platform}:{incoming.key.chat}"
        everyone_here = f"{incoming.key.platform}:*"  # e.g. web:* admits every web chat login
        return (
            incoming.author.id in self.allowed_users
            or chat_id in self.allowed_chats
            or everyone_here in self.allowed_users
        )
