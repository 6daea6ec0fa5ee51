"""Feedback on answers: the verbs adapters call when a user rates an answer 👍 or 👎.

Adapters never touch ``storage``: they hand over what they know (an answer id they showed with
buttons, or the platform message a reaction landed on) and the user; the answer must belong to
the chat the rating came from, so nobody rates (or probes) another chat's answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from core import metrics
from storage import Database
from storage.feedback import RatedAnswer

log = logging.getLogger(__name__)

UP, DOWN, CLEARED = 1, -1, 0


class Feedback:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def link(self, platform: str, chat: str, post_ids: Iterable[str], answer_id: int) -> None:
        """The platform messages ``post_ids`` show answer ``answer_id`` (a reaction on any of
        them rates it). Never raises: the answer is delivered by now, so a failure here must
        not reach the user as an error; the operator learns which answer lost its reactions."""
        try:
            await self._db.feedback.link(platform, chat, [str(p) for p in post_ids], answer_id)
        except Exception as exc:
            log.error(
                "answer %s in %s:%s: reactions on its messages won't rate it (%s: %s)",
                answer_id,
                platform,
                chat,
                type(exc).__name__,
                exc,
            )

    async def record(
        self, platform: str, chat: str, answer_id: int, user_id: str, rating: int
    ) -> bool:
        """``user_id`` rates answer ``answer_id`` (+1, -1; 0 takes it back), replacing an earlier
        rating. False when no such answer lives in this chat."""
        answer = await self._db.feedback.answer(answer_id)
        if answer is None or (answer.platform, answer.chat) != (platform, chat):
            log.info("rating of unknown answer %s in %s:%s ignored", answer_id, platform, chat)
            return False
        await self._rate(answer, user_id, rating)
        return True

    async def record_post(
        self, platform: str, chat: str, post_id: str, user_id: str, rating: int
    ) -> bool:
        """A rating given on a platform message (a Telegram reaction); False when that message
        is not one of the bot's answers."""
        answer_id = await self._db.feedback.answer_of_post(platform, chat, str(post_id))
        if answer_id is None:
            return False
        return await self.record(platform, chat, answer_id, user_id, rating)

    async def _rate(self, answer: RatedAnswer, user_id: str, rating: int) -> None:
        rating = UP if rating > 0 else DOWN if rating < 0 else CLEARED
        await self._db.feedback.rate(answer, user_id, rating)
        metrics.record_feedback(rating)
        log.info("answer %d rated %+d by %s", answer.id, rating, user_id)
