"""Writes as data: statements built once, and the rows to run them with, so the write line can
run the same statement of many queued writes as one execution.

Why: on SQLite the line runs one transaction at a time, and every statement in it costs three or
four round trips between aiosqlite's thread and the event loop (open a cursor, execute, fetch,
close), one after the other. A 1,000-conversation soak queued ~85 writes a second; at 2-3 ms a
round trip under load the line was busy 60-70 % of the time, and any burst tipped it over: batches
of 56 writes took 0.6-2 s and every turn's first token waited behind them (bench/NOTES.md). The
same statement for k writes as one execution costs the same round trips as for one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_ROWS_PER_INSERT = 64  # rows in one shared INSERT .. RETURNING (a power of two)


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of a write and its parameter sets.

    ``statement`` should be built once, with bound parameters (a module constant): steps of
    queued writes share an execution only when they hold the very same statement object.
    ``returns_ids`` marks an ``INSERT .. RETURNING id`` of one row whose id the writer needs.
    """

    statement: Executable
    rows: Sequence[Mapping[str, Any]]
    returns_ids: bool = False

    def __post_init__(self) -> None:
        if not self.rows:
            raise ValueError("a step needs at least one row")
        if self.returns_ids and len(self.rows) != 1:
            raise ValueError("a step that returns its id inserts one row")

    @property
    def key(self) -> tuple[int, tuple[str, ...], bool]:
        """What must match for steps to share an execution (executemany needs equal keys)."""
        return id(self.statement), tuple(sorted(self.rows[0])), self.returns_ids


@dataclass(slots=True)
class _Group:
    """Equal steps of several writes, run as one execution."""

    step: Step
    rows: list[Mapping[str, Any]] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)  # per row: the write it belongs to


class ReturnedIdsUnclear(Exception):
    """A shared insert returned ids that cannot be matched to its rows (never expected)."""


def plan(writes: Sequence[Sequence[Step]]) -> list[_Group]:
    """Group the steps of ``writes`` (in line order) into executions: each write's steps stay in
    its own order, and equal steps of different writes share a group where that keeps it so.

    Writes queued together come from callers that each wait for their own write, so none
    depends on another of the same batch, and only each write's own order has to hold."""
    groups: list[_Group] = []
    newest: dict[tuple[int, tuple[str, ...], bool], int] = {}
    for position, steps in enumerate(writes):
        floor = -1
        for step in steps:
            index = newest.get(step.key, -1)
            if index <= floor:  # none yet, or only one before this write's previous step
                index = len(groups)
                groups.append(_Group(step))
                newest[step.key] = index
            group = groups[index]
            group.rows.extend(step.rows)
            group.owners.extend([position] * len(step.rows))
            floor = index
    return groups


async def run_planned(
    connection: AsyncConnection, writes: Sequence[Sequence[Step]]
) -> list[list[int]]:
    """Run ``writes`` on ``connection`` (one transaction, one writer: SQLite); each write's
    result is the ids its ``returns_ids`` steps inserted.

    A shared ``INSERT .. RETURNING id`` returns its ids in no set order (SQLite's documentation
    says so), but SQLite gives each new row the table's largest rowid plus one, in the order
    the rows are inserted, so the ids sorted are the rows' ids in order; this is checked (as
    many ids as rows, consecutive), and anything else raises, which makes the line run each
    write alone."""
    ids: list[list[int]] = [[] for _ in writes]
    for group in plan(writes):
        if not group.step.returns_ids:
            parameters: Any = group.rows if len(group.rows) > 1 else group.rows[0]
            await connection.execute(group.step.statement, parameters)
            continue
        start = 0
        for size in insert_sizes(len(group.rows)):
            rows = group.rows[start : start + size]
            result = await connection.execute(group.step.statement, rows if size > 1 else rows[0])
            returned = sorted(int(value) for value in result.scalars().all())
            if len(returned) != size or returned[-1] - returned[0] != size - 1:
                raise ReturnedIdsUnclear(f"{size} rows inserted, ids {returned}")
            for owner, new_id in zip(group.owners[start : start + size], returned, strict=True):
                ids[owner].append(new_id)
            start += size
    return ids


def insert_sizes(count: int) -> list[int]:
    """``count`` as a sum of powers of two up to :data:`MAX_ROWS_PER_INSERT`, largest first.

    A multi-row insert's SQL names every row's placeholders, so each row count is a statement
    of its own in SQLite's per-connection statement cache; any count would make up to 64 of
    them, each holding hundreds of placeholders (a soak's memory grew with the batches' sizes).
    Seven sizes at most this way."""
    sizes = []
    size = MAX_ROWS_PER_INSERT
    while count:
        while size > count:
            size //= 2
        sizes.append(size)
        count -= size
    return sizes


async def run_alone(connection: AsyncConnection, steps: Sequence[Step]) -> list[int]:
    """One write's steps, in order (PostgreSQL, or a write retried on its own)."""
    ids: list[int] = []
    for step in steps:
        parameters: Any = list(step.rows) if len(step.rows) > 1 else step.rows[0]
        result = await connection.execute(step.statement, parameters)
        if step.returns_ids:
            ids.extend(int(value) for value in result.scalars().all())
    return ids
