"""When a conversation's history since its last summary grows past HISTORY_MAX_TOKENS, its
oldest part becomes a new summary, in the background after the answer that crossed the line.

A step summarizes the earlier summary plus the oldest exchanges, leaving the newest
HISTORY_KEEP_TOKENS verbatim: the next compaction is then ``max - keep`` tokens of conversation
away, and every turn in between sends the same prefix (system, documents, summary, the same
verbatim messages in the same order), which Moonshot's prefix cache bills cheaper.

At most COMPACTION_CONCURRENCY summaries run at once in a process; the others wait in line.
Conversations that started together reach the budget together (a team's morning, a soak's
users): in the 16-minute soak, minutes with 120-180 compactions had first tokens 15-25 ms
slower than their neighbours. In line, a wave is spread over the next minutes, and a
conversation waiting its turn only sends its longer (still cached) history a few more times. At
1,000 conversations the spread wave still slowed first tokens for as long as it lasted
(bench/NOTES.md): the line bounds the calls at once, not yet the wave's whole cost.

A failed summary leaves the history as it was (turns send what fits the model's window, as
before compaction existed) and is retried after a pause that doubles up to an hour.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core import errors, metrics
from core.memory import prompt
from core.memory.policy import MemoryPolicy
from core.memory.summarizer import Summarizer
from core.tokens import MESSAGE_OVERHEAD, TokenEstimator, raw_estimate
from storage import ConversationRecord, Database, StoredMessage
from storage.summaries import SummaryRecord

log = logging.getLogger(__name__)

FIRST_RETRY = 60.0
LAST_RETRY = 3600.0
# Messages one step reads at most (a conversation that never compacted may hold thousands).
READ_LIMIT = 1_000


@dataclass(slots=True)
class _Backoff:
    delay: float = FIRST_RETRY
    until: float = 0.0


@dataclass(frozen=True, slots=True)
class Step:
    """The exchanges one compaction covers, oldest first, and where the summary ends."""

    messages: list[StoredMessage]
    through_id: int


@dataclass(slots=True)
class Compactor:
    db: Database
    summarizer: Summarizer
    policy: MemoryPolicy
    estimator: TokenEstimator
    clock: Callable[[], float] = time.monotonic
    _tasks: dict[int, asyncio.Task[object]] = field(default_factory=dict)
    _backoff: dict[int, _Backoff] = field(default_factory=dict)
    _slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.policy.concurrency)

    def due(self, history_tokens: int) -> bool:
        """Whether history of this many tokens since the last summary needs compacting."""
        return self.policy.enabled and history_tokens > self.policy.max_tokens

    def schedule(self, conversation: ConversationRecord, user_id: str) -> bool:
        """Compact in the background (never delaying an answer); False when one is already
        running for this conversation here or a failed one is pausing."""
        conversation_id = conversation.id
        running = self._tasks.get(conversation_id)
        backoff = self._backoff.get(conversation_id)
        if running is not None and not running.done():
            return False
        if backoff is not None and self.clock() < backoff.until:
            return False
        task = asyncio.create_task(
            self._run(conversation, user_id), name=f"compact-{conversation_id}"
        )
        self._tasks[conversation_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(conversation_id, None))
        return True

    async def close(self, grace: float = 10.0) -> None:
        """Let running and waiting compactions finish within ``grace``, then cancel the rest
        (cheap to lose: the conversation's next turn retries). ``Services.close`` calls it
        before closing the Kimi client and the database; also what tests await to let the
        background settle."""
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)  # cancelled for good before the client closes

    async def _run(self, conversation: ConversationRecord, user_id: str) -> None:
        metrics.COMPACTIONS_WAITING.inc()
        try:
            await self._slots.acquire()
        finally:
            metrics.COMPACTIONS_WAITING.dec()
        try:
            await self._compact_logged(conversation, user_id)
        finally:
            self._slots.release()

    async def _compact_logged(self, conversation: ConversationRecord, user_id: str) -> None:
        try:
            await self.compact(conversation, user_id)
        except errors.KimiError as exc:
            self._failed(conversation.id, f"{exc.kind}: {exc.detail}")
        except Exception as exc:  # a background task: log it, never let it vanish
            log.exception("compaction of conversation %d crashed", conversation.id)
            self._failed(conversation.id, type(exc).__name__)
        else:
            self._backoff.pop(conversation.id, None)

    def _failed(self, conversation_id: int, reason: str) -> None:
        backoff = self._backoff.setdefault(conversation_id, _Backoff())
        backoff.until = self.clock() + backoff.delay
        log.warning(
            "could not compact conversation %d (%s); keeping its full history, retrying in %.0fs",
            conversation_id,
            reason,
            backoff.delay,
        )
        backoff.delay = min(backoff.delay * 2, LAST_RETRY)
        metrics.record_error("compaction")

    async def compact(self, conversation: ConversationRecord, user_id: str) -> SummaryRecord | None:
        """One step: summarize the earlier summary and the oldest exchanges; the new summary
        is stored and returned (None: nothing worth compacting, or another worker did it)."""
        previous = await self.db.summaries.latest(conversation.id)
        after = previous.through_id if previous else 0
        history = await self.db.summaries.uncovered(conversation.id, after, limit=READ_LIMIT)
        step = self.plan(history, previous)
        if step is None:
            return None
        transcript = prompt.transcript(previous.content if previous else None, step.messages)
        summary = await self.summarizer.summarize(
            transcript,
            conversation=conversation,
            user_id=user_id,
            platform=conversation.key.platform,
            max_tokens=self.policy.summary_tokens,
        )
        covered = (previous.covered_messages if previous else 0) + len(step.messages)
        first_at = previous.first_at if previous else step.messages[0].created_at
        stored = await self.db.summaries.add(
            conversation.id,
            through_id=step.through_id,
            covered_messages=covered,
            content=summary.text,
            token_estimate=raw_estimate(summary.text),
            model=self.summarizer.model.id,
            first_at=first_at,
            last_at=step.messages[-1].created_at,
        )
        if not stored:
            return None
        log.info(
            "compacted conversation %d: %d messages through #%d into a %d-token summary",
            conversation.id,
            covered,
            step.through_id,
            raw_estimate(summary.text),
        )
        return await self.db.summaries.latest(conversation.id)

    def plan(self, history: list[StoredMessage], previous: SummaryRecord | None) -> Step | None:
        """The oldest whole exchanges to summarize so that at most HISTORY_KEEP_TOKENS stay
        verbatim, within what one summary call can read."""
        groups = _exchanges(history)
        costs = [sum(self._cost(m) for m in group) for _key, group in groups]
        total = sum(costs)
        if not self.due(total):  # another step (here or on another worker) got there first
            return None
        room = self.summarizer.input_budget(self.policy.summary_tokens)
        room -= previous.token_estimate if previous else 0
        taken: list[StoredMessage] = []
        through = 0
        used = 0
        for (key, group), cost in zip(groups, costs, strict=True):
            if total - used <= self.policy.keep_tokens or (taken and used + cost > room):
                break
            taken += group
            used += cost
            through = key
        if not taken:
            return None
        if len(taken) == len(history):  # never summarize every exchange away
            return _without_newest(groups)
        return Step(taken, through)

    def _cost(self, message: StoredMessage) -> int:
        raw = (message.token_estimate or raw_estimate(message.content)) + MESSAGE_OVERHEAD
        return self.estimator.scaled(raw)


def _exchanges(history: list[StoredMessage]) -> list[tuple[int, list[StoredMessage]]]:
    """Messages grouped by turn: a message and the answers to it share its id as the key."""
    groups: dict[int, list[StoredMessage]] = {}
    for message in history:
        key = message.turn_order[0]
        groups.setdefault(key, []).append(message)
    return sorted(groups.items())


def _without_newest(groups: list[tuple[int, list[StoredMessage]]]) -> Step | None:
    """All but the newest exchange, which stays verbatim (the one the user is in)."""
    if len(groups) < 2:
        return None
    kept = groups[:-1]
    return Step([m for _key, group in kept for m in group], kept[-1][0])
