"""Writes as steps (storage.write_steps): on SQLite the same statement of the writes queued
in one commit runs as one execution, and every writer still gets its own row's id."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, insert, select, table, update

from core.types import ConversationKey
from storage import COMPLETE, IN_PROGRESS, Database
from storage.models import Participant
from storage.write_steps import ReturnedIdsUnclear, Step, insert_sizes, plan, run_planned
from tests.support.ledger import ledger_row

WRITERS = 120


def count_executions(db: Database, word: str) -> list[int]:
    """Statements sent to the database whose SQL starts with ``word`` (INSERT, UPDATE)."""
    seen = [0]

    def counted(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(word):
            seen[0] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", counted)
    return seen


async def a_conversation(db: Database) -> int:
    record = await db.conversations.get_or_create(
        ConversationKey(platform="test", chat="steps"), is_group=False
    )
    return record.id


async def test_queued_inserts_share_executions_and_each_writer_gets_its_own_id(
    db: Database,
) -> None:
    conversation = await a_conversation(db)
    inserts = count_executions(db, "INSERT")
    contents = [f"message {i}" for i in range(WRITERS)]
    ids = await asyncio.gather(*(db.messages.add(conversation, "user", c) for c in contents))
    assert len(set(ids)) == WRITERS
    for content, message_id in zip(contents, ids, strict=True):
        stored = await db.messages.get(message_id)
        assert stored is not None and stored.content == content, "the id is the writer's row"
    if db.engine.dialect.name == "sqlite":
        assert inserts[0] < WRITERS / 4, "queued inserts ran together"
    else:
        assert inserts[0] >= WRITERS, "PostgreSQL: each write its own transaction"


async def test_queued_answers_close_together_with_their_usage(db: Database) -> None:
    conversation = await a_conversation(db)
    answers = [
        await db.messages.add(conversation, "assistant", "", status=IN_PROGRESS)
        for _ in range(WRITERS // 4)
    ]
    updates = count_executions(db, "UPDATE")
    await asyncio.gather(
        *(db.messages.checkpoint(answer, f"part of {answer}", 2) for answer in answers)
    )
    await asyncio.gather(
        *(
            db.messages.finish(
                answer,
                content=f"answer {answer}",
                status=COMPLETE,
                token_estimate=3,
                usage=[ledger_row(user_id="u", conversation_id=conversation, message_id=answer)],
            )
            for answer in answers
        )
    )
    for answer in answers:
        stored = await db.messages.get(answer)
        assert stored is not None
        assert (stored.content, stored.status) == (f"answer {answer}", COMPLETE)
    assert (await db.usage.totals(user_id="u")).calls == len(answers)
    if db.engine.dialect.name == "sqlite":
        assert updates[0] < len(answers), "queued checkpoints and closings ran together"


async def test_a_message_with_its_speaker_among_others(db: Database) -> None:
    """A write of two steps (the message, then its speaker) shares the message insert with
    plain writes and still records its speaker."""
    conversation = await a_conversation(db)
    writes = [db.messages.add(conversation, "user", f"plain {i}") for i in range(10)]
    writes.append(
        db.messages.add(
            conversation, "user", "spoken", author_id="u9", author_name="Nine", participant=True
        )
    )
    ids = await asyncio.gather(*writes)
    assert (await db.messages.get(ids[-1])).content == "spoken"  # type: ignore[union-attr]
    async with db.engine.connect() as connection:
        speakers = (
            await connection.execute(
                select(Participant.user_id, Participant.display_name).where(
                    Participant.conversation_id == conversation
                )
            )
        ).all()
    assert [tuple(row) for row in speakers] == [("u9", "Nine")]


T = table("t")
A, B, C = insert(T), update(T), insert(T).values()


def test_each_write_keeps_its_own_order_and_equal_steps_share_a_group() -> None:
    groups = plan(
        [
            [Step(A, ({"x": 1},), returns_ids=True)],
            [Step(B, ({"x": 2},))],
            [Step(C, ({"y": 3},)), Step(B, ({"x": 4},))],  # its B must come after its C
            [Step(A, ({"x": 5},), returns_ids=True), Step(C, ({"y": 6},))],
        ]
    )
    assert [(g.step.statement, g.owners) for g in groups] == [
        (A, [0, 3]),
        (B, [1]),
        (C, [2, 3]),
        (B, [2]),
    ]


def test_steps_with_different_columns_do_not_share_an_execution() -> None:
    groups = plan([[Step(B, ({"x": 1},))], [Step(B, ({"x": 1, "y": 2},))]])
    assert len(groups) == 2


class _Returned:
    def __init__(self, ids: list[int]) -> None:
        self.ids = ids

    def scalars(self) -> _Returned:
        return self

    def all(self) -> list[int]:
        return self.ids


class _Connection:
    def __init__(self, ids: list[int]) -> None:
        self.ids = ids

    async def execute(self, _statement: Any, _parameters: Any) -> _Returned:
        return _Returned(self.ids)


@pytest.mark.parametrize("returned", [[7, 9], [7], [7, 7]])
async def test_ids_that_cannot_be_matched_to_rows_refuse_the_shared_insert(
    returned: list[int],
) -> None:
    writes = [[Step(A, ({"x": 1},), returns_ids=True)], [Step(A, ({"x": 2},), returns_ids=True)]]
    with pytest.raises(ReturnedIdsUnclear):
        await run_planned(_Connection(returned), writes)  # type: ignore[arg-type]


async def test_consecutive_ids_are_handed_out_in_row_order() -> None:
    writes = [[Step(A, ({"x": i},), returns_ids=True)] for i in range(4)]
    ids = await run_planned(_Connection([12, 10, 13, 11]), writes)  # type: ignore[arg-type]
    assert ids == [[10], [11], [12], [13]]


def test_a_step_needs_rows_and_returns_at_most_one_id() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        Step(A, ())
    with pytest.raises(ValueError, match="one row"):
        Step(A, ({"x": 1}, {"x": 2}), returns_ids=True)


@pytest.mark.parametrize(
    ("count", "sizes"), [(1, [1]), (15, [8, 4, 2, 1]), (64, [64]), (100, [64, 32, 4])]
)
def test_shared_inserts_come_in_a_few_sizes(count: int, sizes: list[int]) -> None:
    """Each row count is a statement of its own in SQLite's statement cache: powers of two."""
    assert insert_sizes(count) == sizes


async def test_ids_are_matched_chunk_by_chunk() -> None:
    class Chunked(_Connection):
        def __init__(self) -> None:
            super().__init__([])
            self.next = 100

        async def execute(self, _statement: Any, parameters: Any) -> _Returned:
            size = len(parameters) if isinstance(parameters, list) else 1
            ids = list(range(self.next + size - 1, self.next - 1, -1))  # reversed, as SQLite may
            self.next += size + 10  # a gap between chunks is fine
            return _Returned(ids)

    writes = [[Step(A, ({"x": i},), returns_ids=True)] for i in range(3)]
    assert await run_planned(Chunked(), writes) == [[100], [101], [112]]  # type: ignore[arg-type]
