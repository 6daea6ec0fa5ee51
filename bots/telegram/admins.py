"""Is this user an admin of this group? Asked only for admin-only commands, cached briefly.

Group admins may run /reset and /system for the group. Telegram is the authority (promotions
and demotions happen there), so the answer is cached for a minute, not stored; at most
``CACHE_SIZE`` answers are kept (the least recently used go first).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from cachetools import TTLCache
from telegram import Bot, Message
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from bots.telegram.delivery import describe

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
CACHE_SIZE = 10_000
_ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})


class ChatAdmins:
    def __init__(
        self, bot: Bot, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._bot = bot
        self._cache: TTLCache[tuple[int, int], bool] = TTLCache(CACHE_SIZE, ttl, timer=clock)

    async def is_admin(self, message: Message) -> bool:
        chat_id = message.chat.id
        if message.sender_chat is not None and message.sender_chat.id == chat_id:
            return True  # an anonymous admin writes as the group itself
        if message.from_user is None:
            return False
        key = (chat_id, message.from_user.id)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            member = await self._bot.get_chat_member(chat_id, message.from_user.id)
        except TelegramError as exc:
            log.warning("could not check admin status in chat %s: %s", chat_id, describe(exc))
            return False
        result = member.status in _ADMIN_STATUSES
        self._cache[key] = result
        return result
