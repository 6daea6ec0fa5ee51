"""The "typing…" indicator, kept alive until the answer's first text is visible.

Telegram shows a chat action for about five seconds, so it is refreshed every few seconds while
we wait for the model (queueing, limits, a slow first token).
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import RetryAfter, TelegramError

from bots.telegram.delivery import describe, retry_seconds

log = logging.getLogger(__name__)

REFRESH_SECONDS = 4.0


class TypingIndicator:
    def __init__(self, bot: Bot, chat_id: int, thread_id: int | None = None) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._thread_id = thread_id
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="telegram-typing")

    def stop(self) -> None:
        """Idempotent; safe to call from any sink method."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            wait = REFRESH_SECONDS
            try:
                await self._bot.send_chat_action(
                    self._chat_id, ChatAction.TYPING, message_thread_id=self._thread_id
                )
            except RetryAfter as exc:
                wait = max(wait, retry_seconds(exc))
            except TelegramError as exc:
                log.debug("typing indicator failed: %s", describe(exc))
            await asyncio.sleep(wait)
