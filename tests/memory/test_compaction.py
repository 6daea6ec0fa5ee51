"""Compaction: triggered at the budget, the summary used and stored, recent exchanges verbatim,
early facts recalled, a failing summarizer harmless, the prefix stable between compactions."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from prometheus_client import REGISTRY
from sqlalchemy import event

from core.service import start_services
from core.types import Author, CollectingSink, ConversationKey
from storage import COMPLETE
from tests.conftest import clean_database, make_settings
from tests.memory.conftest import MEMORY_SETTINGS, is_summary_call, summary_rows, turn_requests
from tests.support.messages import ask, user_texts
from tests.support.polling import eventually

KEY = ConversationKey(platform="cli", chat="memory")
ALICE = Author(id="cli:alice", name="Alice")
incoming = partial(ask, key=KEY, author=ALICE)

FILLER = "Tell me something about rivers and the sea, and about how the tides come and go. "


def question(n: int) -> str:
    """No digits: the emulator's summarizer keeps sentences with numbers as facts."""
    name = "".join(chr(ord("a") + int(d)) for d in str(n))
    return f"Question {name}: {FILLER * 2}".strip()


async def chat(services, count: int, start: int = 1) -> None:
    for n in range(start, start + count):
        outcome = await services.assistant.handle(incoming(question(n)), CollectingSink())
        assert outcome is not None and outcome.status == COMPLETE
    await services.assistant.compactor.close()  # let a compaction the turns started finish


async def conversation_id(services) -> int:
    conversation = await services.db.conversations.active(KEY)
    assert conversation is not None
    return conversation.id


async def test_compaction_summarizes_the_oldest_part_and_keeps_recent_verbatim(
    memory_services, moonshot
):
    services = memory_services
    await services.assistant.handle(incoming("My locker number is 4711."), CollectingSink())
    await chat(services, 8)
    conv = await conversation_id(services)
    summary = await eventually(lambda: services.db.summaries.latest(conv), what="a stored summary")
    summary_calls = [r for r in moonshot.requests if is_summary_call(r)]
    assert len(summary_calls) == 1
    assert "My locker number is 4711." in summary_calls[0]["messages"][1]["content"]
    assert "4711" in summary.content  # the emulator's summarizer keeps fact sentences
    # The summary call went through the ledger like any call (no answer message of its own).
    usage = await services.db.usage.totals(user_id="cli:alice")
    assert usage.calls == 9 + 1

    await chat(services, 1, start=9)
    last = turn_requests(moonshot.requests)[-1]
    systems = [m["content"] for m in last["messages"] if m["role"] == "system"]
    assert any(s.startswith("Summary of the earlier part") and "4711" in s for s in systems)
    users = user_texts(last)
    assert "My locker number is 4711." not in users  # covered: not sent again
    assert users[-1] == question(9)
    # The newest exchanges are still there, word for word and in order.
    assert users[-3:] == [question(7), question(8), question(9)]
    covered = summary.covered_messages
    assert covered >= 2 and covered % 2 == 0  # whole exchanges only


async def test_early_fact_is_recalled_after_several_compactions(memory_services, moonshot):
    services = memory_services
    await services.assistant.handle(incoming("My locker number is 4711."), CollectingSink())
    conv = await conversation_id(services)
    for batch in range(3):
        await chat(services, 9, start=1 + batch * 9)
        await eventually(
            lambda b=batch: _summaries_at_least(services, conv, b + 1),
            what=f"summary number {batch + 1}",
        )
    sink = CollectingSink()
    await services.assistant.handle(incoming("Which locker? [[recall:locker number]]"), sink)
    assert sink.final is not None and "4711" in sink.final
    last = turn_requests(moonshot.requests)[-1]
    assert "My locker number is 4711." not in user_texts(last)  # only the summary carries it


async def _summaries_at_least(services, conv: int, count: int) -> bool:
    return await summary_rows(services.db, conv) >= count


async def test_prefix_is_byte_identical_between_compactions(memory_services, moonshot):
    services = memory_services
    await chat(services, 9)
    conv = await conversation_id(services)
    await eventually(lambda: services.db.summaries.latest(conv), what="a stored summary")
    await chat(services, 1, start=10)
    await chat(services, 1, start=11)
    first, second = turn_requests(moonshot.requests)[-2:]
    assert await summary_rows(services.db, conv) == 1, "no compaction between the two turns"
    prefix = first["messages"]
    assert second["messages"][: len(prefix)] == prefix
    assert second.get("tools") == first.get("tools")


async def test_failing_summarizer_keeps_the_conversation_working(
    moonshot, db_url, roomy_models, caplog
):
    from core.service import start_services
    from tests.conftest import clean_database, make_settings
    from tests.memory.conftest import MEMORY_SETTINGS

    settings = make_settings(
        moonshot.base_url,
        db_url,
        summary_model="moonshot-v1-32k",
        kimi_models_file=roomy_models,
        **MEMORY_SETTINGS,
    )
    services = await start_services(settings)
    await clean_database(services.db)
    moonshot.served_models = [m for m in moonshot.state.catalog.ids() if m != "moonshot-v1-32k"]
    try:
        await services.assistant.handle(incoming("My locker number is 4711."), CollectingSink())
        await chat(services, 9)
        conv = await conversation_id(services)
        assert await services.db.summaries.latest(conv) is None
        # Every answer came, with the plain history of before (the window still fits it all).
        last = turn_requests(moonshot.requests)[-1]
        assert "My locker number is 4711." in user_texts(last)
        # One failed attempt, then a pause: not one summary call per turn.
        attempts = [r for r in moonshot.requests if r.get("model") == "moonshot-v1-32k"]
        assert 1 <= len(attempts) <= 1 + 3  # the client's retries of one attempt at most
        assert "could not compact conversation" in caplog.text  # the operator hears of it
    finally:
        moonshot.served_models = None
        await services.close()


async def test_turns_between_compactions_are_billed_mostly_as_cached(memory_services, moonshot):
    """With a model Moonshot prices a cache hit for, the emulator reports the repeated prefix as
    ``cached_tokens`` and the ledger keeps them (billed at the cache price)."""
    services = memory_services
    await command_reply(services, "/model kimi-k2-0905-preview")
    await chat(services, 9)
    conv = await conversation_id(services)
    await eventually(lambda: services.db.summaries.latest(conv), what="a stored summary")
    before = await services.db.usage.totals(user_id="cli:alice")
    await chat(services, 2, start=10)  # the first re-reads the new summary; the second hits it
    after = await services.db.usage.totals(user_id="cli:alice")
    prompt = after.prompt_tokens - before.prompt_tokens
    cached = after.cached_tokens - before.cached_tokens
    assert cached > 0
    assert cached >= prompt * 0.3, (cached, prompt)


async def command_reply(services, text: str) -> str:
    sink = CollectingSink()
    await services.assistant.handle(incoming(text), sink)
    return sink.replies[-1]


async def test_conversations_due_together_compact_a_few_at_a_time(moonshot, db_url, roomy_models):
    """COMPACTION_CONCURRENCY caps the summaries written at once; the rest wait their turn and
    every conversation still gets its summary."""
    settings = make_settings(
        moonshot.base_url,
        db_url,
        kimi_models_file=roomy_models,
        compaction_concurrency=2,
        **MEMORY_SETTINGS,
    )
    services = await start_services(settings)
    await clean_database(services.db)
    summarizer = services.assistant.summarizer
    real_summarize = summarizer.summarize
    running, most = 0, 0

    async def slow_summarize(*args, **kwargs):  # the real call, held open a little longer
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.3)
            return await real_summarize(*args, **kwargs)
        finally:
            running -= 1

    summarizer.summarize = slow_summarize
    keys = [ConversationKey(platform="cli", chat=f"wave-{n}") for n in range(6)]

    async def converse(key: ConversationKey) -> None:
        for n in range(1, 10):
            outcome = await services.assistant.handle(
                ask(question(n), key=key, author=ALICE), CollectingSink()
            )
            assert outcome is not None and outcome.status == COMPLETE

    try:
        await asyncio.gather(*(converse(key) for key in keys))
        await services.assistant.compactor.close(grace=30)
        conversations = [await services.db.conversations.active(key) for key in keys]
        for conversation in conversations:
            assert conversation is not None
            assert await services.db.summaries.latest(conversation.id) is not None
        assert most == 2
        assert REGISTRY.get_sample_value("kimi_compactions_waiting") == 0
    finally:
        await services.close()


async def test_a_compacted_turn_reads_summary_and_history_in_few_queries(memory_services):
    """The summary a conversation's row names is read once and then kept (summaries never
    change); the history since it comes in one query."""
    services = memory_services
    await chat(services, 9)
    conv = await conversation_id(services)
    await eventually(lambda: services.db.summaries.latest(conv), what="a stored summary")
    statements: list[str] = []

    def seen(_conn, _cursor, statement, _params, _context, _many) -> None:
        statements.append(" ".join(statement.split()))

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await chat(services, 1, start=10)
        first = list(statements)
        statements.clear()
        await chat(services, 1, start=11)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    def summary_reads(seen_statements: list[str]) -> list[str]:
        return [s for s in seen_statements if s.startswith("SELECT conversation_summaries.")]

    assert len(summary_reads(first)) <= 1
    assert summary_reads(statements) == []
    history_pages = [s for s in statements if "FROM messages" in s and "messages.id >" in s]
    assert len(history_pages) == 1, statements


async def test_closing_the_services_waits_for_a_summary_under_way(
    moonshot, db_url, roomy_models, caplog
):
    """Services.close settles the background summaries before it closes the Kimi client and
    the database: none is left to fail against them (a soak's end logged 167 such crashes)."""
    settings = make_settings(
        moonshot.base_url, db_url, kimi_models_file=roomy_models, **MEMORY_SETTINGS
    )
    services = await start_services(settings)
    await clean_database(services.db)
    summarizer = services.assistant.summarizer
    real_summarize = summarizer.summarize
    started = asyncio.Event()

    async def slow_summarize(*args, **kwargs):  # still writing when the close begins
        started.set()
        await asyncio.sleep(0.5)
        return await real_summarize(*args, **kwargs)

    summarizer.summarize = slow_summarize
    try:
        for n in range(1, 10):  # not chat(): it settles the summaries itself
            await services.assistant.handle(incoming(question(n)), CollectingSink())
        await asyncio.wait_for(started.wait(), 10)
        conversation = await conversation_id(services)
    finally:
        await services.close()
    await asyncio.sleep(0.8)  # when a summary left running would reach the closed client
    failed = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "compact" in r.getMessage()
    ]
    assert failed == []

    reopened = await start_services(settings)
    try:
        assert await summary_rows(reopened.db, conversation) >= 1, "the summary was stored"
    finally:
        await reopened.close()
