"""The stored assistant message of one turn, from the in-progress insert to the final save.

Why a row before the answer exists: a worker that dies mid-answer leaves what the user saw in
the history (recovery marks it incomplete, not failed). The insert runs while the model thinks,
off the critical path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from core.tokens import raw_estimate
from core.turn_progress import TurnProgress
from storage import IN_PROGRESS
from storage.messages import MessageRepository
from storage.records import UsageEntry

log = logging.getLogger(__name__)


class AnswerRow:
    """Inserted in progress, saved every ``checkpoint_every`` seconds while streaming, finished
    once."""

    def __init__(
        self, messages: MessageRepository, insert: asyncio.Task[int], every: float
    ) -> None:
        self._messages = messages
        self._insert = insert
        self._every = every

    @classmethod
    def start(
        cls,
        messages: MessageRepository,
        *,
        conversation_id: int,
        model_id: str,
        reply_to_id: int,
        worker_id: str | None,
        checkpoint_every: float,
    ) -> AnswerRow:
        """Begin inserting the in-progress row in the background."""
        insert = asyncio.create_task(
            messages.add(
                conversation_id,
                "assistant",
                "",
                status=IN_PROGRESS,
                model=model_id,
                reply_to_id=reply_to_id,
                worker_id=worker_id,
            )
        )
        return cls(messages, insert, checkpoint_every)

    async def id(self) -> int:
        """The row's id, once the insert is done."""
        return await self._insert

    async def finish(
        self,
        text: str,
        *,
        status: str,
        error: str | None,
        usage: Sequence[UsageEntry],
        reasoning: str = "",
    ) -> None:
        """Store the answer's final text and status, with its ledger rows and the reasoning of a
        thinking model (kept apart from the text)."""
        await self._messages.finish(
            await self.id(),
            content=text,
            status=status,
            token_estimate=raw_estimate(text),
            error=error,
            usage=usage,
            reasoning=reasoning,
        )

    @asynccontextmanager
    async def saving(self, progress: TurnProgress) -> AsyncIterator[None]:
        """Save the text streamed so far every ``checkpoint_every`` seconds while the body runs.
        On the way out a save in flight finishes and none starts: never cancelled mid-write."""
        answer_ended = asyncio.Event()
        saver = asyncio.create_task(self._checkpoints(progress, answer_ended))
        try:
            yield
        finally:
            answer_ended.set()
            await asyncio.wait([saver])  # without swallowing our own cancellation
            if not saver.cancelled() and saver.exception() is not None:
                log.warning("saving the partial answer stopped with %r", saver.exception())

    async def _checkpoints(self, progress: TurnProgress, answer_ended: asyncio.Event) -> None:
        answer_id = await asyncio.shield(self._insert)  # ending early must not cancel the insert
        saved = 0
        while True:
            try:
                await asyncio.wait_for(answer_ended.wait(), self._every)
                return
            except TimeoutError:
                pass
            text = progress.text
            if len(text) == saved:
                continue
            try:
                await self._messages.checkpoint(answer_id, text, raw_estimate(text))
                saved = len(text)
            except Exception as exc:  # the final save is what must succeed; this one may wait
                log.warning("could not save the partial answer %d: %s", answer_id, exc)
