"""Graceful shutdown and crash recovery, through the real engine and database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial

from core.service import start_services
from core.types import Author, CollectingSink, ConversationKey
from core.workers import INTERRUPTED_NOTICE, WorkerPresence
from emulators.moonshot import Fault, ScriptedReply
from storage import COMPLETE, FAILED, IN_PROGRESS, INCOMPLETE
from tests.conftest import make_settings
from tests.support.messages import ask as support_ask
from tests.support.polling import eventually

KEY = ConversationKey(platform="telegram", chat="42")
ALICE = Author(id="telegram:42", name="Alice")


class StreamingSink(CollectingSink):
    """Signals the first streamed text, so a test can act mid-answer."""

    def __init__(self) -> None:
        super().__init__()
        self.first_text = asyncio.Event()

    async def append(self, delta: str) -> None:
        await super().append(delta)
        self.first_text.set()


ask = partial(support_ask, key=KEY, author=ALICE)


async def answers(services) -> list:
    conversation = await services.db.conversations.active(KEY)
    rows = await services.db.messages.page(conversation.id, limit=50)
    return [r for r in reversed(rows)]


async def test_drain_interrupts_visibly_after_the_grace_period(services, moonshot):
    moonshot.enqueue(ScriptedReply(text="word " * 300))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.05, times=1))
    sink = StreamingSink()
    task = asyncio.create_task(services.assistant.handle(ask("long answer please"), sink))
    await asyncio.wait_for(sink.first_text.wait(), 10)
    stopped = await services.assistant.drain(grace=0.2)
    assert stopped == 1
    assert task.done()
    assert sink.aborted is not None
    partial, reason = sink.aborted
    assert partial and "restarting" in reason
    rows = await answers(services)
    assert rows[0].content == "long answer please" and rows[0].status == COMPLETE
    assert rows[1].status == INCOMPLETE and rows[1].content == partial

    late = CollectingSink()
    await services.assistant.handle(ask("are you there?"), late)
    assert "restarting" in late.replies[0]
    rows = await answers(services)
    assert rows[-1].content == "are you there?" and rows[-1].status == FAILED, "kept, not answered"


async def test_drain_lets_answers_finish_within_grace(services, moonshot):
    moonshot.inject(Fault(kind="slow_tokens", delay=0.01, times=1))
    sink = CollectingSink()
    task = asyncio.create_task(services.assistant.handle(ask("short"), sink))
    await asyncio.sleep(0.05)
    assert await services.assistant.drain(grace=10) == 0
    await task
    assert sink.final and sink.aborted is None


async def test_recovery_closes_dead_workers_turns_and_tells_once(services, moonshot):
    db = services.db
    conversation = await db.conversations.get_or_create(KEY, is_group=False)
    question = await db.messages.add(conversation.id, "user", "q", author_id=ALICE.id)
    dead = await db.messages.add(
        conversation.id, "assistant", "", status=IN_PROGRESS, reply_to_id=question, worker_id="dead"
    )
    await db.workers.heartbeat("alive", "host", 1)
    live = await db.messages.add(
        conversation.id,
        "assistant",
        "",
        status=IN_PROGRESS,
        reply_to_id=question,
        worker_id="alive",
    )
    told: list[tuple[ConversationKey, str]] = []

    async def notify(key: ConversationKey, text: str) -> None:
        told.append((key, text))

    later = lambda: datetime.now(UTC) + timedelta(seconds=1)  # noqa: E731
    presence = WorkerPresence(db, "me", notify, dead_after=30, clock=later)
    assert await presence.recover() == 1
    assert told == [(KEY, INTERRUPTED_NOTICE)]
    assert (await db.messages.get(dead)).status == FAILED
    assert (await db.messages.get(live)).status == IN_PROGRESS, "a live worker's turn is untouched"
    assert await presence.recover() == 0 and len(told) == 1, "told once"


async def test_a_database_away_at_start_up_does_not_stop_the_worker(services, caplog):
    """The first heartbeat fails; the worker starts anyway and the next beat registers it."""
    db = services.db
    real_heartbeat = db.workers.heartbeat
    calls = 0

    async def flaky_heartbeat(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionRefusedError("database restarting")
        return await real_heartbeat(*args, **kwargs)

    async def notify(key: ConversationKey, text: str) -> None:
        return None

    db.workers.heartbeat = flaky_heartbeat
    presence = WorkerPresence(db, "starting-worker", notify, heartbeat_every=0.05)
    try:
        await presence.start()
        assert "heartbeat failed: ConnectionRefusedError" in caplog.text
        await eventually(lambda: calls >= 2, what="the next beat to try again")
    finally:
        await presence.stop()
        db.workers.heartbeat = real_heartbeat


async def test_a_streaming_answer_is_saved_as_it_grows_and_survives_its_worker(moonshot, db_url):
    """Checkpoints keep what the user saw; if the worker dies, recovery keeps it as incomplete."""
    moonshot.enqueue(ScriptedReply(text="word " * 300))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.01, times=1))
    settings = make_settings(moonshot.base_url, db_url, answer_checkpoint_every=0.05)
    services = await start_services(settings)
    try:
        sink = StreamingSink()
        task = asyncio.create_task(services.assistant.handle(ask("tell me a long story"), sink))
        await asyncio.wait_for(sink.first_text.wait(), 10)

        async def saved_partial() -> str:
            answer = (await answers(services))[-1]
            return answer.content if answer.status == IN_PROGRESS else ""

        saved = await eventually(saved_partial, what="the partial answer to be saved")
        assert "".join(sink.deltas).startswith(saved)
        assert not task.done(), "saved before the answer ended"
        # The worker "dies" now: another worker's recovery closes the turn with the saved text.
        future = datetime.now(UTC) + timedelta(hours=1)
        closed = await services.db.workers.close_abandoned(
            alive_since=future, started_before=future, reason="interrupted: its worker stopped"
        )
        assert len(closed) == 1
        answer = (await answers(services))[-1]
        assert answer.status == INCOMPLETE and answer.content.startswith(saved)
        await asyncio.wait_for(task, 30)
    finally:
        await services.close()


async def test_a_late_checkpoint_never_overwrites_the_final_answer(services):
    conversation = await services.db.conversations.get_or_create(KEY, is_group=False)
    answer = await services.db.messages.add(conversation.id, "assistant", "", status=IN_PROGRESS)
    await services.db.messages.checkpoint(answer, "partial", 2)
    saved = await services.db.messages.get(answer)
    assert (saved.content, saved.status) == ("partial", IN_PROGRESS)
    await services.db.messages.finish(
        answer, content="the whole answer", status=COMPLETE, token_estimate=4
    )
    await services.db.messages.checkpoint(answer, "partial", 2)
    stored = await services.db.messages.get(answer)
    assert (stored.content, stored.status) == ("the whole answer", COMPLETE)
