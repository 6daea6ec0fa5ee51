"""The assistant end to end: the real openai SDK over HTTP against the Moonshot emulator,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from functools import partial

from core.service import start_services
from core.types import Author, CollectingSink, ConversationKey
from emulators.moonshot import Fault, ScriptedReply
from storage import COMPLETE, FAILED, INCOMPLETE
from tests.conftest import make_settings
from tests.support.messages import ask, user_texts
from tests.support.polling import eventually

KEY = ConversationKey(platform="cli", chat="e2e")
ALICE = Author(id="cli:alice", name="Alice")


incoming = partial(ask, key=KEY, author=ALICE)


async def stored(services, key: ConversationKey = KEY):
    conversation = await services.db.conversations.active(key)
    return list(reversed(await services.db.messages.page(conversation.id, limit=100)))


async def test_answer_streams_and_is_stored(services, moonshot):
    sink = CollectingSink()
    outcome = await services.assistant.handle(incoming("hello there"), sink)
    assert outcome is not None and outcome.status == COMPLETE
    assert sink.final == "".join(sink.deltas)
    assert "hello there" in sink.final
    assert len(sink.deltas) > 1, "the answer should arrive in several deltas"
    rows = await stored(services)
    assert [(r.role, r.status) for r in rows] == [("user", COMPLETE), ("assistant", COMPLETE)]
    assert rows[1].content == sink.final
    usage = await services.db.usage.totals(user_id="cli:alice")
    assert usage.calls == 1 and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.cost("CNY") > 0 and set(usage.costs) == {"CNY"}


async def test_memory_across_turns_and_restart(services, moonshot, db_url):
    await services.assistant.handle(incoming("my name is Ada"), CollectingSink())
    await services.assistant.handle(incoming("what is my name?"), CollectingSink())
    second = moonshot.requests[-1]
    assert user_texts(second) == ["my name is Ada", "what is my name?"]
    assert second["messages"][0]["role"] == "system"
    assert second["messages"][2]["role"] == "assistant"
    await services.close()

    restarted = await start_services(make_settings(moonshot.base_url, db_url))
    try:
        await restarted.assistant.handle(incoming("and again?"), CollectingSink())
    finally:
        await restarted.close()
    assert user_texts(moonshot.requests[-1]) == [
        "my name is Ada",
        "what is my name?",
        "and again?",
    ]


async def test_rate_limit_waits_what_moonshot_says(services, moonshot):
    moonshot.inject(Fault(kind="rate_limit", wait_seconds=2, times=1))
    sink = CollectingSink()
    started = time.monotonic()
    outcome = await services.assistant.handle(incoming("busy?"), sink)
    elapsed = time.monotonic() - started
    assert outcome.status == COMPLETE
    assert elapsed >= 2.0
    assert len(moonshot.requests) >= 1
    assert any("retrying" in n for n in sink.notices)


async def test_server_error_is_retried(services, moonshot):
    moonshot.inject(Fault(kind="server_error", times=2))
    sink = CollectingSink()
    outcome = await services.assistant.handle(incoming("flaky?"), sink)
    assert outcome.status == COMPLETE
    assert "flaky?" in sink.final


async def test_auth_failure_is_not_retried_and_reported(services, moonshot):
    moonshot.inject(Fault(kind="auth", times=5))
    sink = CollectingSink()
    outcome = await services.assistant.handle(incoming("hello"), sink)
    assert outcome.status == FAILED
    assert sink.aborted is not None and "API key" in sink.aborted[1]
    assert sink.final is None
    rows = await stored(services)
    assert rows[0].role == "user" and rows[0].content == "hello"
    assert rows[1].status == FAILED
    # one attempt only: four injected failures remain unused
    moonshot.reset()
    ok = CollectingSink()
    await services.assistant.handle(incoming("again"), ok)
    assert ok.final is not None


async def test_dropped_stream_keeps_message_and_marks_incomplete(services, moonshot):
    moonshot.enqueue(ScriptedReply(text="one two three four five six seven eight nine ten " * 5))
    moonshot.inject(Fault(kind="drop_stream", after_chunks=4, times=1))
    sink = CollectingSink()
    outcome = await services.assistant.handle(incoming("tell me"), sink)
    assert outcome.status == INCOMPLETE
    assert sink.aborted is not None
    partial, reason = sink.aborted
    assert partial and "network" in reason
    rows = await stored(services)
    assert rows[0].content == "tell me" and rows[0].status == COMPLETE
    assert rows[1].status == INCOMPLETE and rows[1].content == partial


async def test_turns_of_one_conversation_never_interleave(services, moonshot):
    moonshot.inject(Fault(kind="slow_tokens", delay=0.01, times=2))
    first, second = CollectingSink(), CollectingSink()
    running = asyncio.create_task(services.assistant.handle(incoming("first question"), first))
    # The second message arrives while the first answer streams.
    await eventually(lambda: first.deltas, what="the first answer to start")
    await services.assistant.handle(incoming("second question"), second)
    await running
    assert first.final and second.final
    assert first.final.endswith("first question") and second.final.endswith("second question")
    last = moonshot.requests[-1]["messages"]
    assert [m["role"] for m in last[1:]] == ["user", "assistant", "user"]
    assert last[2]["content"] == first.final, "the second turn saw the whole first answer"
    rows = await stored(services)
    assert len(rows) == 4


async def test_group_turns_name_the_speaker(services, moonshot):
    group = ConversationKey(platform="telegram", chat="-100", thread="")
    bob = Author(id="telegram:2", name="Bob")
    await services.assistant.handle(incoming("I like tea", key=group, group=True), CollectingSink())
    await services.assistant.handle(
        incoming("what did Alice say?", author=bob, key=group, group=True), CollectingSink()
    )
    texts = user_texts(moonshot.requests[-1])
    assert texts == ["Alice: I like tea", "Bob: what did Alice say?"]
    assert "group" in moonshot.requests[-1]["messages"][0]["content"]


async def test_commands_model_system_reset_usage(services, moonshot):
    sink = CollectingSink()
    await services.assistant.handle(incoming("/model nope-1"), sink)
    assert "Unknown model" in sink.replies[-1] and "moonshot-v1-8k" in sink.replies[-1]
    await services.assistant.handle(incoming("/model moonshot-v1-8k"), sink)
    await services.assistant.handle(incoming("/system You answer like a pirate."), sink)
    await services.assistant.handle(incoming("hi"), sink)
    request = moonshot.requests[-1]
    assert request["model"] == "moonshot-v1-8k"
    assert request["messages"][0]["content"].startswith("You answer like a pirate.")
    await services.assistant.handle(incoming("/usage"), sink)
    assert "Today:" in sink.replies[-1] and "1 call" in sink.replies[-1]
    await services.assistant.handle(incoming("/reset"), sink)
    await services.assistant.handle(incoming("fresh start"), sink)
    assert user_texts(moonshot.requests[-1]) == ["fresh start"]
    assert moonshot.requests[-1]["model"] == "moonshot-v1-8k", "reset keeps the chosen model"


async def test_cancel_stops_and_keeps_partial(services, moonshot):
    moonshot.enqueue(ScriptedReply(text="word " * 200))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.05, times=1))
    sink = CollectingSink()
    task = asyncio.create_task(services.assistant.handle(incoming("long please"), sink))
    await eventually(lambda: sink.deltas, what="the answer to start")
    replies = CollectingSink()
    await services.assistant.handle(incoming("/cancel"), replies)
    result = await asyncio.wait_for(task, 5)
    assert result is None
    assert sink.aborted is not None and sink.aborted[1] == "Stopped."
    rows = await stored(services)
    answer = next(r for r in rows if r.role == "assistant")
    assert answer.status == INCOMPLETE and answer.content
    assert answer.content == sink.aborted[0]
    nothing = CollectingSink()
    await services.assistant.handle(incoming("/cancel"), nothing)
    assert nothing.replies == ["Nothing to cancel."]


async def test_empty_and_unknown_command(services, moonshot):
    sink = CollectingSink()
    await services.assistant.handle(incoming("   "), sink)
    await services.assistant.handle(incoming("/frobnicate"), sink)
    assert "empty" in sink.replies[0]
    assert "Unknown command" in sink.replies[1]
    assert moonshot.requests == []


async def test_a_database_failure_at_the_end_still_ends_the_answer_in_the_chat(
    services, moonshot, monkeypatch
):
    """The answer streamed, but storing it failed: the chat shows what was said, marked as cut
    short, and the internal-error message; the turn never leaves a preview streaming."""
    from core import texts

    async def broken_finish(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services.db.messages, "finish", broken_finish)
    sink = CollectingSink()
    await services.assistant.handle(incoming("store me if you can"), sink)
    assert sink.aborted is not None
    partial, reason = sink.aborted
    assert "store me if you can" in partial
    assert reason == texts.text("internal", "en")
    assert sink.replies == [texts.text("internal", "en")]
    assert sink.final is None


async def test_a_message_too_long_for_the_model_window_is_refused_clearly(
    moonshot, sqlite_url, tmp_path
):
    """Under the character limit, over the model's window: a clear reply, no model call."""
    from core import texts

    models = tmp_path / "models.toml"
    models.write_text(
        '[models."kimi-k2"]\ncontext_window = 4096\nmax_output = 1024\n', encoding="utf-8"
    )
    services = await start_services(
        make_settings(
            moonshot.base_url, sqlite_url, kimi_models_file=str(models), kimi_max_output=1024
        )
    )
    try:
        calls = len(moonshot.requests)
        sink = CollectingSink()
        outcome = await services.assistant.handle(incoming("word " * 20_000), sink)
        assert outcome is not None and outcome.status == FAILED
        assert len(sink.replies) == 1 and "too long for the model" in sink.replies[0]
        assert sink.replies[0] != texts.text("internal", "en")
        assert len(moonshot.requests) == calls, "nothing sent to Moonshot"
        rows = await stored(services)
        assert [(r.role, r.status) for r in rows] == [("user", FAILED)]
    finally:
        await services.close()
