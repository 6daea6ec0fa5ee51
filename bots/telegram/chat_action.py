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
        self._stopped = False

    def start(self) -> None:
        if self._task is None and not self._stopped:
            self._task = asyncio.create_task(self._run(), name="telegram-typing")

    def stop(self) -> None:
        """Idempotent; safe to call from any sink method.

        Forgets the task as it cancels it: a cancelled task keeps its ``CancelledError``, whose
        traceback holds ``_run``'s frame and so this indicator. Kept, the task would close a
        reference cycle that only a full garbage collection frees, and the answer's whole sink
        with it (a soak's 1,000 conversations piled up hundreds, bench/NOTES.md)."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

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
