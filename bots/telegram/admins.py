"""Is this user an admin of this group? Asked only for admin-only commands, cached briefly.

Group admins may run /reset and /system for the group. Telegram is the authority (promotions
and demotions happen there), so the answer is cached for a minute, not stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from telegram import Bot, Message
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from bots.telegram.delivery import describe

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
_ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})


class ChatAdmins:
    def __init__(
        self, bot: Bot, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._bot = bot
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[tuple[int, int], tuple[float, bool]] = {}

    async def is_admin(self, message: Message) -> bool:
        chat_id = message.chat.id
        if message.sender_chat is not None and message.sender_chat.id == chat_id:
            return True  # an anonymous admin writes as the group itself
        if message.from_user is None:
            return False
        key = (chat_id, message.from_user.id)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            member = await self._bot.get_chat_member(chat_id, message.from_user.id)
        except TelegramError as exc:
            log.warning("could not check admin status in chat %s: %s", chat_id, describe(exc))
            return False
        result = member.status in _ADMIN_STATUSES
        if len(self._cache) > 10_000:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[key] = (now + self._ttl, result)
        return result
