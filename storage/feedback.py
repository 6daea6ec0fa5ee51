"""Ratings of answers (👍/👎) and the platform messages that lead a reaction to its answer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import AnswerPost, Conversation, Feedback, Message, utcnow
from storage.write_gate import WriteGate


@dataclass(frozen=True, slots=True)
class RatedAnswer:
    """An answer a rating may land on: where it lives and which model wrote it."""

    id: int
    platform: str
    chat: str
    model: str | None


@dataclass(frozen=True, slots=True)
class FeedbackCounts:
    up: int = 0
    down: int = 0


class FeedbackRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = WriteGate.of(engine)  # every write takes its turn in the one line

    async def answer(self, answer_id: int) -> RatedAnswer | None:
        """The assistant message ``answer_id`` (None for a user message or no message)."""
        query = (
            select(Message.id, Conversation.platform, Conversation.chat, Message.model)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id == answer_id, Message.role == "assistant")
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return RatedAnswer(int(row[0]), str(row[1]), str(row[2]), row[3]) if row else None

    async def link(self, platform: str, chat: str, post_ids: Iterable[str], answer_id: int) -> None:
        """Remember that ``post_ids`` show answer ``answer_id`` (ids already linked are kept: a
        redelivered update's link does not replace the first). One write for all of them."""
        now = utcnow()
        rows = [
            {
                "platform": platform,
                "chat": chat,
                "post_id": post_id,
                "message_id": answer_id,
                "created_at": now,
            }
            for post_id in dict.fromkeys(post_ids)
        ]
        if not rows:
            return
        dialect_insert = (
            postgresql_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        )
        statement = dialect_insert(AnswerPost).on_conflict_do_nothing(
            index_elements=["platform", "chat", "post_id"]
        )
        await self._writes.run(lambda connection: connection.execute(statement, rows))

    async def answer_of_post(self, platform: str, chat: str, post_id: str) -> int | None:
        query = select(AnswerPost.message_id).where(
            AnswerPost.platform == platform, AnswerPost.chat == chat, AnswerPost.post_id == post_id
        )
        async with self._engine.connect() as connection:
            found = (await connection.execute(query)).scalar()
        return int(found) if found is not None else None

    async def rate(self, answer: RatedAnswer, user_id: str, rating: int) -> None:
        """Set ``user_id``'s rating of ``answer`` (+1 or -1), replacing any earlier one;
        0 takes it back."""
        where = (Feedback.message_id == answer.id, Feedback.user_id == user_id)
        now = utcnow()
        if rating == 0:
            async with self._writes.transaction() as connection:
                await connection.execute(delete(Feedback).where(*where))
            return
        for _ in range(2):  # a concurrent first rating by the same user: update on the retry
            async with self._writes.transaction() as connection:
                changed = await connection.execute(
                    update(Feedback).where(*where).values(rating=rating, updated_at=now)
                )
                if changed.rowcount:
                    return
            try:
                async with self._writes.transaction() as connection:
                    await connection.execute(
                        insert(Feedback).values(
                            message_id=answer.id,
                            user_id=user_id,
                            platform=answer.platform,
                            model=answer.model,
                            rating=rating,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                return
            except IntegrityError:
                continue

    async def rating(self, answer_id: int, user_id: str) -> int | None:
        query = select(Feedback.rating).where(
            Feedback.message_id == answer_id, Feedback.user_id == user_id
        )
        async with self._engine.connect() as connection:
            found = (await connection.execute(query)).scalar()
        return int(found) if found is not None else None

    async def by_model(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, FeedbackCounts]:
        """👍 and 👎 per model of the ratings given (or last changed) in ``[since, until)``."""
        query = select(
            Feedback.model,
            func.sum(case((Feedback.rating > 0, 1), else_=0)),
            func.sum(case((Feedback.rating < 0, 1), else_=0)),
        ).group_by(Feedback.model)
        if since is not None:
            query = query.where(Feedback.updated_at >= since.astimezone(UTC))
        if until is not None:
            query = query.where(Feedback.updated_at < until.astimezone(UTC))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {str(r[0] or ""): FeedbackCounts(int(r[1] or 0), int(r[2] or 0)) for r in rows}
