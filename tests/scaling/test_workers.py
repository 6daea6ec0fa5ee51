"""Several real ``kimi-bot run`` processes on one PostgreSQL database and one Redis.

The Moonshot and Slack emulators run in this test process; Slack delivers events through a
round-robin "load balancer" (or straight to a chosen worker), exactly as Slack would POST them.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from core.catalog import load_catalog
from core.workers import INTERRUPTED_NOTICE
from emulators.moonshot import Fault, MoonshotEmulator, ScriptedReply
from emulators.slack import SlackEmulator
from emulators.slack.payloads import event_callback, user_message_event
from storage import Database
from storage.models import Message
from tests.conftest import EMULATOR_KEY
from tests.scaling.workers import Fleet, Worker, proxy_to, sample, wait_for
from tests.support.messages import user_texts as support_user_texts

pytestmark = pytest.mark.slow  # several `kimi-bot run` processes per test

LONG = "word " * 400  # 250 stream chunks: long enough to act in the middle of the answer


def dm_envelope(slack: SlackEmulator, channel: str, user: str, text: str) -> dict[str, Any]:
    """The Events API body Slack would POST for a DM (not sent yet)."""
    ts = slack.clock.next()
    event = user_message_event(
        channel=slack.workspace.channels[channel],
        user=user,
        text=text,
        ts=ts,
        team_id=slack.team_id,
    )
    return event_callback(
        event, team_id=slack.team_id, app_id=slack.workspace.app_id, bot_user_id=slack.bot_user_id
    )


async def deliver(slack: SlackEmulator, worker: Worker, envelope: dict[str, Any]) -> None:
    status, body = await slack.post_event(envelope, url=worker.events_url)
    assert status == 200, body


def finished(slack: SlackEmulator, channel: str, count: int = 1) -> list[Any]:
    """The bot's messages in ``channel`` once ``count`` of them stopped streaming."""
    messages = slack.messages(channel)
    done = [m for m in messages if not m.streamed or m.stream_state == "stopped"]
    return messages if len(done) >= count else []


def user_texts(request: dict[str, Any]) -> list[str]:
    """What the conversation said so far: questions and answers."""
    return support_user_texts(request, roles=("user", "assistant"))


async def answers_in(db_url: str, status: str | None = None) -> list[Any]:
    db = Database(db_url)
    try:
        async with db.engine.connect() as connection:
            query = select(Message.status, Message.content, Message.error).where(
                Message.role == "assistant"
            )
            return list((await connection.execute(query)).all())
    finally:
        await db.close()


async def test_the_same_event_at_two_workers_is_answered_once(
    fleet: Fleet, slack: SlackEmulator, moonshot: MoonshotEmulator
) -> None:
    a, b = await fleet.start_many(2)
    envelope = dm_envelope(slack, "D1", "U1", "hello from one event")
    # Slack retries, or a load balancer replays, the same event to another worker at once.
    await asyncio.gather(deliver(slack, a, envelope), deliver(slack, b, envelope))
    [answer] = await wait_for(lambda: finished(slack, "D1"), 20, "the answer", a, b)
    assert answer.text == "Echo (kimi-k2): hello from one event"
    await asyncio.sleep(1.0)  # a duplicate answer would have started by now
    assert len(slack.messages("D1")) == 1
    assert len(moonshot.requests) == 1

    # The worker that answered counted the turn, its tokens and cost in /metrics.
    texts = [(await w.get("/metrics"))[1] for w in (a, b)]
    turns = [sample(t, "kimi_turns_total", outcome="complete", platform="slack") for t in texts]
    assert sorted(turns) == [0.0, 1.0]
    answered = texts[turns.index(1.0)]
    assert sample(answered, "kimi_tokens_total", kind="prompt", model="kimi-k2") > 0
    assert sample(answered, "kimi_tokens_total", kind="completion", model="kimi-k2") > 0
    assert sample(answered, "kimi_cost_total", model="kimi-k2", currency="CNY") > 0
    assert sample(answered, "kimi_turn_duration_seconds_count", platform="slack") == 1


async def test_one_conversation_on_two_workers_is_answered_in_order_with_memory(
    fleet: Fleet, slack: SlackEmulator, moonshot: MoonshotEmulator
) -> None:
    a, b = await fleet.start_many(2)
    moonshot.enqueue(ScriptedReply(text="Noted: teal. " + "more " * 60))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.03, times=1))
    await deliver(slack, a, dm_envelope(slack, "D2", "U2", "my colour is teal"))
    await wait_for(lambda: len(moonshot.requests) == 1, 20, "the first call", a)
    # The second message reaches the other worker while the first answer is still streaming.
    await deliver(slack, b, dm_envelope(slack, "D2", "U2", "what is my colour?"))
    messages = await wait_for(lambda: finished(slack, "D2", 2), 30, "both answers", a, b)
    assert messages[0].text.startswith("Noted: teal.")
    assert messages[1].text == "Echo (kimi-k2): what is my colour?"
    assert len(moonshot.requests) == 2
    history = user_texts(moonshot.requests[1])
    assert history[0] == "my colour is teal"
    assert history[1].startswith("Noted: teal."), "the second turn waited for the first answer"
    assert history[2] == "what is my colour?"


async def test_limits_are_shared_across_workers(
    fleet: Fleet, slack: SlackEmulator, tmp_path: Path
) -> None:
    models = tmp_path / "models.toml"
    models.write_text('[models."kimi-k2"]\nconcurrency = 2\nrpm = 200\n')
    strict = MoonshotEmulator(
        api_key=EMULATOR_KEY, catalog=load_catalog(str(models)), enforce_limits=True
    )
    await strict.start()
    try:
        strict.inject(Fault(kind="slow_tokens", delay=0.04, times=9))
        workers = await fleet.start_many(
            3, moonshot_base_url=strict.base_url, kimi_models_file=models
        )
        # Nine users at once, three per worker: each worker alone would allow two calls at a time.
        await asyncio.gather(
            *(slack.user_message(f"D{i}", f"U{i}", f"question {i}") for i in range(1, 10))
        )
        for i in range(1, 10):
            await wait_for(lambda i=i: finished(slack, f"D{i}"), 40, f"answer {i}", *workers)
        assert strict.rate_limited_count == 0, "Moonshot never had to refuse a call"
        assert len(strict.requests) == 9
        assert all(slack.messages(f"D{i}")[-1].text.endswith(f"question {i}") for i in range(1, 10))
        waits = [
            sample((await w.get("/metrics"))[1], "kimi_limiter_waits_total", model="kimi-k2")
            for w in workers
        ]
        assert sum(waits) >= 1, "some calls queued for the shared concurrency limit"
    finally:
        await strict.stop()


async def test_sigterm_during_an_answer_ends_it_visibly_and_marks_it_incomplete(
    fleet: Fleet, slack: SlackEmulator, moonshot: MoonshotEmulator, fresh_db: str
) -> None:
    worker = await fleet.start("w1", shutdown_grace=0.5)
    moonshot.enqueue(ScriptedReply(text=LONG))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.05, times=1))
    await deliver(slack, worker, dm_envelope(slack, "D3", "U3", "tell me a long story"))
    await wait_for(lambda: any(m.appends for m in slack.messages("D3")), 20, "streaming", worker)

    assert await worker.stop(signal.SIGTERM) == 0
    [answer] = slack.messages("D3")
    assert answer.text.startswith("word word")
    assert "Interrupted: the bot is restarting" in answer.text
    assert answer.stream_state == "stopped"
    [(status, content, error)] = await answers_in(fresh_db)
    assert status == "incomplete" and content.startswith("word") and error == "interrupted"
    assert "interrupted 1 answer(s) at shutdown" in worker.log()
    # `kimi-bot run` runs on uvloop (EVENT_LOOP=auto with uvloop installed): this whole test,
    # SIGTERM and the interrupted stream included, is the production loop's.
    assert re.search(
        r"on the uvloop event loop; kept \d{5,} start-up objects out of garbage collections, "
        r"a young collection every 10000 allocations",
        worker.log(),
    )


async def test_a_killed_workers_turn_is_closed_at_the_next_start_and_told_once(
    fleet: Fleet, slack: SlackEmulator, moonshot: MoonshotEmulator, fresh_db: str
) -> None:
    crashed = await fleet.start("w1", lock_lease=2)
    moonshot.enqueue(ScriptedReply(text=LONG))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.05, times=1))
    await deliver(slack, crashed, dm_envelope(slack, "D4", "U4", "a question before the crash"))
    await wait_for(lambda: any(m.appends for m in slack.messages("D4")), 20, "streaming", crashed)
    await crashed.kill()
    [(status, _, _)] = await answers_in(fresh_db)
    assert status == "in_progress", "nobody closed it: the worker died"

    survivor = await fleet.start("w2", lock_lease=2)

    def notices() -> list[Any]:
        return [m for m in slack.messages("D4") if m.text == INTERRUPTED_NOTICE]

    await wait_for(notices, 20, "the interrupted notice", survivor)
    [(status, _, error)] = await answers_in(fresh_db)
    # Closed: incomplete if some text had been stored, failed (nothing kept) otherwise.
    assert status in ("incomplete", "failed")
    assert error == "interrupted: its worker stopped"
    # The crashed worker's conversation lock lapsed with its lease: the chat goes on.
    await deliver(slack, survivor, dm_envelope(slack, "D4", "U4", "are you back?"))
    await wait_for(
        lambda: slack.messages("D4")[-1].text == "Echo (kimi-k2): are you back?",
        20,
        "the next answer",
        survivor,
    )
    await asyncio.sleep(1.5)  # several recovery sweeps later, still told once
    assert len(notices()) == 1
    history = user_texts(moonshot.requests[-1])
    assert history[0] == "a question before the crash", "no user message was lost"


@pytest.mark.parametrize("dependency", ["database", "redis"])
async def test_readyz_names_the_dependency_that_is_down(
    fleet: Fleet, fresh_db: str, redis_url: str, dependency: str
) -> None:
    pg, rd = make_url(fresh_db), make_url(redis_url)
    async with (
        proxy_to(pg.host or "127.0.0.1", pg.port or 5432) as pg_proxy,
        proxy_to(rd.host or "127.0.0.1", rd.port or 6379) as redis_proxy,
    ):
        db_name = make_url(fresh_db).database
        worker = await fleet.start(
            "w1",
            database_url=pg.set(
                host="127.0.0.1", port=pg_proxy.port, database=db_name
            ).render_as_string(hide_password=False),
            redis_url=f"redis://127.0.0.1:{redis_proxy.port}/{rd.database or 0}",
        )
        proxy = pg_proxy if dependency == "database" else redis_proxy
        assert (await worker.get("/readyz"))[0] == 200

        await proxy.down()
        status, body = await worker.get("/readyz")
        assert status == 503
        report = json.loads(body)
        assert report["down"] == [dependency] and report[dependency] == "down"
        assert (await worker.get("/healthz"))[0] == 200, "alive, only not ready"

        await proxy.up()

        async def ready_again() -> bool:
            return (await worker.get("/readyz"))[0] == 200

        await wait_for(ready_again, 15, "readiness to come back", worker)
