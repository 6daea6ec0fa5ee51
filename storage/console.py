"""Read-only queries of the operator console (``/admin``) beyond the usage ledger: workers,
answers in progress, failed answers by kind, and conversations to read for support.

Nothing here writes; the usage and cost numbers come from :mod:`storage.usage`, the same
queries as ``kimi-bot usage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.messages import COMPLETE, IN_PROGRESS
from storage.models import Conversation, Message, Worker

NO_ERROR = "unknown"


@dataclass(frozen=True, slots=True)
class WorkerRow:
    id: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True, slots=True)
class AnswerOutcomes:
    """Answers written in a period: how many, and the ones that did not complete by kind
    (the error's kind: ``rate_limited``, ``timeout``…, or the stored reason)."""

    answers: int
    by_status: dict[str, int]
    by_kind: dict[str, int]


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: int
    platform: str
    workspace: str
    chat: str
    thread: str
    generation: int
    model: str | None
    messages: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    role: str
    author: str
    content: str
    status: str
    error: str | None
    model: str | None
    created_at: datetime


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def error_kind(error: str | None) -> str:
    """``"rate_limited: …"`` → ``rate_limited``; a reason without a kind is itself the kind."""
    if not error:
        return NO_ERROR
    head = error.split(":", 1)[0].strip()
    return head[:60] or NO_ERROR


class ConsoleQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def workers(self) -> list[WorkerRow]:
        """Every registered worker, the most recent heartbeat first."""
        query = select(
            Worker.id, Worker.hostname, Worker.pid, Worker.started_at, Worker.heartbeat_at
        ).order_by(Worker.heartbeat_at.desc())
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            WorkerRow(r[0], r[1] or "", int(r[2] or 0), _aware(r[3]), _aware(r[4])) for r in rows
        ]

    async def answers_in_progress(self) -> int:
        query = select(func.count(Message.id)).where(
            Message.status == IN_PROGRESS, Message.role == "assistant"
        )
        async with self._engine.connect() as connection:
            return int((await connection.execute(query)).scalar() or 0)

    async def outcomes(self, *, since: datetime | None = None) -> AnswerOutcomes:
        """Answers since ``since`` and the failed or incomplete ones by error kind."""
        where = [Message.role == "assistant", Message.status != IN_PROGRESS]
        if since is not None:
            where.append(Message.created_at >= since.astimezone(UTC))
        counts = select(Message.status, func.count(Message.id)).where(*where)
        failed = select(Message.error).where(*where, Message.status != COMPLETE)
        async with self._engine.connect() as connection:
            by_status = {
                str(r[0]): int(r[1])
                for r in (await connection.execute(counts.group_by(Message.status))).all()
            }
            by_kind: dict[str, int] = {}
            for (error,) in (await connection.execute(failed)).all():
                kind = error_kind(error)
                by_kind[kind] = by_kind.get(kind, 0) + 1
        return AnswerOutcomes(sum(by_status.values()), by_status, by_kind)

    async def conversations(self, *, limit: int = 50, offset: int = 0) -> list[ConversationRow]:
        """Conversations, the most recently active first, with their number of messages."""
        count = (
            select(Message.conversation_id, func.count(Message.id).label("n"))
            .group_by(Message.conversation_id)
            .subquery()
        )
        query = (
            select(*_conversation_columns(func.coalesce(count.c.n, 0)))
            .outerjoin(count, count.c.conversation_id == Conversation.id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_conversation(r) for r in rows]

    async def conversation(self, conversation_id: int) -> ConversationRow | None:
        messages = (
            select(func.count(Message.id))
            .where(Message.conversation_id == Conversation.id)
            .scalar_subquery()
        )
        query = select(*_conversation_columns(messages)).where(Conversation.id == conversation_id)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else _conversation(row)

    async def messages(self, conversation_id: int, *, limit: int = 500) -> list[MessageRow]:
        """A conversation's messages in order (the newest ``limit``)."""
        query = (
            select(
                Message.id,
                Message.role,
                func.coalesce(Message.author_name, Message.author_id, ""),
                Message.content,
                Message.status,
                Message.error,
                Message.model,
                Message.created_at,
            )
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            MessageRow(int(r[0]), r[1], r[2] or "", r[3] or "", r[4], r[5], r[6], _aware(r[7]))
            for r in reversed(rows)
        ]


def _conversation_columns(messages: Any) -> tuple[Any, ...]:
    """The columns :func:`_conversation` reads, in its order; ``messages`` counts them."""
    return (
        Conversation.id,
        Conversation.platform,
        Conversation.workspace,
        Conversation.chat,
        Conversation.thread,
        Conversation.generation,
        Conversation.model,
        messages,
        Conversation.updated_at,
    )


def _conversation(r: object) -> ConversationRow:
    row = tuple(r)  # type: ignore[call-overload]
    return ConversationRow(
        id=int(row[0]),
        platform=row[1],
        workspace=row[2] or "",
        chat=row[3],
        thread=row[4] or "",
        generation=int(row[5] or 0),
        model=row[6],
        messages=int(row[7] or 0),
        updated_at=_aware(row[8]),
    )
