"""``/memory`` shows the summary and what it covers, ``/reset`` forgets it, and a group's summary
keeps who said what."""

from __future__ import annotations

from core.types import Author, CollectingSink, ConversationKey
from tests.memory.conftest import is_summary_call
from tests.memory.test_compaction import chat, conversation_id, incoming
from tests.support.messages import ask
from tests.support.polling import eventually


async def command(services, text: str, key: ConversationKey | None = None) -> str:
    sink = CollectingSink()
    message = incoming(text) if key is None else ask(text, key=key, author=Author("cli:bo", "Bo"))
    await services.assistant.handle(message, sink)
    assert sink.replies, f"{text} gave no reply"
    return sink.replies[-1]


async def test_memory_before_and_after_a_summary_and_after_reset(memory_services):
    services = memory_services
    before = await command(services, "/memory")
    assert "No summary yet" in before and "700" in before
    await services.assistant.handle(incoming("My locker number is 4711."), CollectingSink())
    await chat(services, 9)
    conv = await conversation_id(services)
    summary = await eventually(lambda: services.db.summaries.latest(conv), what="a summary")
    shown = await command(services, "/memory")
    assert f"the first {summary.covered_messages} messages" in shown
    assert summary.content in shown and "4711" in shown
    assert summary.model in shown

    await command(services, "/reset")
    after = await command(services, "/memory")
    assert "No summary yet" in after and "4711" not in after
    # The old conversation's summary is kept (stored), just no longer used.
    assert await services.db.summaries.latest(conv) is not None


async def test_memory_command_in_chinese(memory_services):
    reply = await command(memory_services, "/memory 记忆")
    assert "还没有总结" in reply


async def test_group_summary_keeps_speakers_names(memory_services, moonshot):
    services = memory_services
    group = ConversationKey(platform="cli", chat="team")
    people = [Author("cli:ann", "Ann"), Author("cli:raj", "Raj")]
    await services.assistant.handle(
        ask("My budget is 300 yuan.", key=group, author=people[0], group=True), CollectingSink()
    )
    await services.assistant.handle(
        ask("My deadline is 12 March.", key=group, author=people[1], group=True), CollectingSink()
    )
    filler = "Tell me something about rivers and the sea, and about how the tides come and go. "
    for n in range(9):
        speaker = people[n % 2]
        await services.assistant.handle(
            ask(f"Question {'abcdefghij'[n]}: {filler * 2}", key=group, author=speaker, group=True),
            CollectingSink(),
        )
    await services.assistant.compactor.close()
    conversation = await services.db.conversations.active(group)
    summary = await eventually(lambda: services.db.summaries.latest(conversation.id))
    call = next(r for r in moonshot.requests if is_summary_call(r))
    transcript = call["messages"][1]["content"]
    assert "Ann: My budget is 300 yuan." in transcript
    assert "Raj: My deadline is 12 March." in transcript
    assert "Ann: My budget is 300 yuan." in summary.content
    assert "Raj: My deadline is 12 March." in summary.content
