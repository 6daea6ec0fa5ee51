"""``/summarize`` of a history longer than one window: the older messages are summarized in
parts (one billed summary call each), then one answer reads those summaries and the newest
messages. A failing part falls back to the newest messages with a note; another group's
messages never appear anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core import texts
from core.summarize import MAX_PARTS, PART_INSTRUCTIONS, conversation_summary
from core.tokens import raw_estimate
from core.types import ConversationKey
from emulators.moonshot.scripts import Fault
from storage.models import UsageRecord
from tests.groupqa.test_summarize import running_slack_bot
from tests.slack.conftest import emu  # noqa: F401 (fixture)
from tests.telegram.conftest import BOB, GROUP, USER, Bot, handled, visible

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

OTHER_GROUP = -1009999
HISTORY = 300
# Small windows so 300 short messages need several parts: the answering model reads 8k tokens
# (a transcript budget of 4k), the summary model 4k (a part of ~1.5k tokens).
SMALL_MODELS = """
[models."kimi-k2"]
context_window = 8192
max_output = 1024

[models."moonshot-v1-8k"]
context_window = 4096
max_output = 1024
"""
PART_MARK = PART_INSTRUCTIONS.split(";")[0].format(bot="Kimi")


def said(i: int) -> str:
    """Message ``i`` of the history: a fact the emulator's summarizer keeps (it has a digit)."""
    return f"Note {i} is that build {i} passed on host h{i} after the morning run."


def part_requests(moonshot: Any) -> list[dict[str, Any]]:
    return [
        r
        for r in moonshot.requests
        if r.get("messages") and PART_MARK in str(r["messages"][0].get("content"))
    ]


async def usage_rows(bot: Bot) -> list[tuple[int | None, str]]:
    async with bot.services.db.engine.connect() as connection:
        rows = await connection.execute(
            select(UsageRecord.message_id, UsageRecord.model).order_by(UsageRecord.id)
        )
        return [(r[0], str(r[1])) for r in rows]


async def long_group_history(tg: Any, start_bot: Any, tmp_path: Path, **settings: Any) -> Bot:
    """A group whose stored history is HISTORY messages (and another group with a secret)."""
    models = tmp_path / "models.toml"
    models.write_text(SMALL_MODELS)
    for chat in (GROUP, OTHER_GROUP):
        tg.add_chat(chat, type="supergroup", title=f"Team {chat}")
        tg.set_admins(chat, [tg.bot_id])  # sees every message, as with privacy mode off
    bot: Bot = await start_bot(
        telegram_group_context=True,
        kimi_models_file=str(models),
        summary_model="moonshot-v1-8k",
        history_max_tokens=0,  # no background compaction: only /summarize calls summarize
        **settings,
    )
    tg.user_message(GROUP, USER, said(0), first_name="Alice")
    tg.user_message(OTHER_GROUP, BOB, "The other group secret is 4242.", first_name="Bob")
    await handled(tg, bot, 2)
    db = bot.services.db
    conversation = await db.conversations.active(
        ConversationKey(platform="telegram", chat=str(GROUP))
    )
    assert conversation is not None
    for i in range(1, HISTORY):
        await db.messages.add(
            conversation.id, "user", said(i), author_id=f"telegram:{USER}", author_name="Alice"
        )
    return bot


async def test_a_long_group_history_is_summarized_in_parts_then_answered(
    tg: Any, moonshot: Any, start_bot: Any, tmp_path: Path
) -> None:
    bot = await long_group_history(tg, start_bot, tmp_path)
    tg.user_command(GROUP, BOB, "summarize", str(HISTORY), to_bot=True, first_name="Bob")
    await handled(tg, bot, 3, within=60)

    parts = part_requests(moonshot)
    assert len(parts) >= 3, "300 messages in a 4k-token summary window take several parts"
    # Each part call carries its messages (oldest first, none twice) and no tools.
    carried: list[str] = []
    for request in parts:
        assert request["model"] == "moonshot-v1-8k"
        assert "tools" not in request or not request["tools"]
        carried += [
            line for line in request["messages"][-1]["content"].splitlines() if "Note" in line
        ]
    assert carried == [f"Alice: {said(i)}" for i in range(len(carried))]

    # One answer, whose question carries every part's summary and then the newest messages.
    [final] = [r for r in moonshot.requests if r not in parts]
    assert final["model"] == "kimi-k2"
    question = final["messages"][-1]["content"]
    assert question.startswith(f"Bob: Summarize the conversation below (the last {HISTORY}")
    for number in range(1, len(parts) + 1):
        assert f"Summary of earlier part {number} of {len(parts)} (" in question
    first = 0
    for number, request in enumerate(parts, 1):  # each part's summary, labelled, in order
        size = request["messages"][-1]["content"].count("Alice: Note")
        section = question.split(f"Summary of earlier part {number} of {len(parts)} ")[1]
        assert section.startswith(f"({size} messages):\nSummary: Alice: {said(first)}")
        first += size
    quoted = [line for line in question.splitlines() if line.startswith("> ")]
    newest = HISTORY - len(carried)
    assert quoted == [f"> Alice: {said(i)}" for i in range(len(carried), HISTORY)]
    assert f"(the last {HISTORY} messages: the older {len(carried)} as summaries" in question
    assert f"The newest {newest} messages, as they were said:" in question
    assert "secret" not in str(moonshot.requests), "another group's messages never appear"

    # The user was told, then answered; the ledger bills every call to the asker.
    shown = visible(tg, GROUP)
    assert shown[0] == texts.text(
        "summarize_in_parts", "en", older=len(carried), parts=len(parts), kept=newest
    )
    assert shown[-1].startswith("Echo (kimi-k2): Bob: Summarize the conversation below")
    rows = await usage_rows(bot)
    assert [model for _, model in rows] == ["moonshot-v1-8k"] * len(parts) + ["kimi-k2"]
    assert [answer for answer, _ in rows[:-1]] == [None] * len(parts), "no answer: summaries"
    assert rows[-1][0] is not None


async def test_a_failing_part_falls_back_to_the_newest_messages_with_a_note(
    tg: Any, moonshot: Any, start_bot: Any, tmp_path: Path
) -> None:
    bot = await long_group_history(tg, start_bot, tmp_path, kimi_max_retries=0)
    moonshot.inject(Fault("server_error"))  # the first part's call
    tg.user_command(GROUP, BOB, "summarize", str(HISTORY), to_bot=True, first_name="Bob")
    await handled(tg, bot, 3, within=60)

    assert len(part_requests(moonshot)) == 1, "no further parts after a failure"
    final = moonshot.requests[-1]
    question = final["messages"][-1]["content"]
    assert question.startswith("Bob: Summarize the conversation below (the last ")
    assert "Summary of earlier part" not in question
    quoted = [line for line in question.splitlines() if line.startswith("> ")]
    kept = len(quoted)
    assert 2 <= kept < HISTORY
    assert quoted == [f"> Alice: {said(i)}" for i in range(HISTORY - kept, HISTORY)]

    shown = visible(tg, GROUP)
    trimmed = texts.text("summarize_trimmed", "en", kept=kept, count=HISTORY)
    failed = [text for text in shown if text.startswith("Summarizing the older messages")]
    assert len(failed) == 1 and failed[0].endswith(trimmed), shown
    assert shown[-1].startswith("Echo (kimi-k2): Bob: Summarize the conversation below")
    assert "secret" not in str(moonshot.requests)


SLACK_MODELS = """
[models."kimi-k2"]
context_window = 4096
max_output = 512

[models."moonshot-v1-8k"]
context_window = 4096
max_output = 1024
"""


@pytest.fixture
async def small_slack_bot(
    emu: Any,  # noqa: F811
    moonshot: Any,
    sqlite_url: str,
    tmp_path: Path,
) -> Any:
    """A Slack worker over HTTP whose models read little at once."""
    models = tmp_path / "models.toml"
    models.write_text(SLACK_MODELS)
    async with running_slack_bot(
        emu,
        moonshot.base_url,
        sqlite_url,
        kimi_models_file=str(models),
        summary_model="moonshot-v1-8k",
        history_max_tokens=0,
    ) as bot:
        yield bot


async def test_slack_kimi_summarize_reads_a_long_channel_in_parts(
    emu: Any,  # noqa: F811
    small_slack_bot: Any,
    moonshot: Any,
) -> None:
    for i in range(150):
        emu.seed_message("C1", "U1" if i % 2 else "U2", said(i))
    emu.add_channel("C2", name="random")
    emu.seed_message("C2", "U2", "The other channel secret is 777.")
    await emu.slash_command("/kimi", "summarize 150", "C1", "U1")
    await small_slack_bot.idle()

    parts = part_requests(moonshot)
    assert len(parts) >= 2
    carried = [
        line.split(": ", 1)[1]
        for request in parts
        for line in request["messages"][-1]["content"].splitlines()
        if "Note" in line
    ]
    assert carried == [said(i) for i in range(len(carried))], "the oldest, in order, once"
    [final] = [r for r in moonshot.requests if r not in parts]
    question = final["messages"][-1]["content"]
    assert f"summaries of {len(parts)} parts" in question
    assert question.rstrip().endswith(said(149))
    assert "secret" not in str(moonshot.requests), "another channel's messages never appear"
    told = [str(r["body"]) for r in emu.command_responses]
    assert any(f"in {len(parts)} parts" in text for text in told), told


class RecordingSummarizer:
    """Summarizes by counting: what ``conversation_summary`` asks of the lead's Summarizer."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.calls: list[tuple[str, int | None, str]] = []

    def model_window(self) -> int:
        return self.window

    async def summarize(self, transcript: str, **asked: Any) -> Any:
        from core.memory import SummaryText

        self.calls.append((transcript, asked["max_tokens"], asked["user_id"]))
        return SummaryText(f"{transcript.count(chr(10))} lines", 1, 1)


async def test_parts_are_capped_and_an_overlong_message_is_cut_to_fit_one(services: Any) -> None:
    key = ConversationKey(platform="cli", chat="very-long")
    conversation = await services.db.conversations.get_or_create(key, is_group=False)
    await services.db.messages.add(conversation.id, "user", "huge " * 3000)  # ~3,000 tokens
    for i in range(1, 400):
        await services.db.messages.add(conversation.id, "user", said(i) + " pad" * 40)
    summarizer = RecordingSummarizer(window=4096)  # parts of ~1,500 tokens
    told: list[str] = []

    async def announce(text: str) -> None:
        told.append(text)

    request = await conversation_summary(
        services.db,
        key,
        "400",
        "en",
        8192,
        summarizer=summarizer,
        user_id="cli:me",
        announce=announce,
    )
    assert len(summarizer.calls) == MAX_PARTS, "no more calls than MAX_PARTS"
    assert all(user == "cli:me" for _, _, user in summarizer.calls)
    assert "huge" not in str(summarizer.calls), "the oldest did not fit in MAX_PARTS parts"
    [note] = told
    assert "did not fit even in parts" in note
    assert request.say is None and request.question is not None
    assert request.question.count("Summary of earlier part") == MAX_PARTS

    # Alone, the overlong message is cut to fit one part rather than refused.
    alone = ConversationKey(platform="cli", chat="one-huge")
    conversation = await services.db.conversations.get_or_create(alone, is_group=False)
    await services.db.messages.add(conversation.id, "user", "huge " * 3000)
    for i in range(40):
        await services.db.messages.add(conversation.id, "user", said(i) + " pad" * 40)
    summarizer = RecordingSummarizer(window=4096)
    await conversation_summary(services.db, alone, "", "en", 8192, summarizer=summarizer)
    first = summarizer.calls[0][0]
    assert first.startswith("Messages:\nsomeone: huge huge") and first.endswith(" …")
    assert raw_estimate(first) < 4096 - 1200


async def test_in_chinese_and_never_summarizing_an_earlier_request(services: Any) -> None:
    key = ConversationKey(platform="cli", chat="zh-long")
    conversation = await services.db.conversations.get_or_create(key, is_group=False)
    for i in range(120):
        await services.db.messages.add(conversation.id, "user", f"第 {i} 号构建已通过。" * 8)
    summarizer = RecordingSummarizer(window=4096)
    request = await conversation_summary(services.db, key, "", "zh", 2000, summarizer=summarizer)
    assert request.question is not None and request.say is not None
    assert request.question.startswith("请总结下面的对话（最近 50 条消息：较早的")
    assert "较早部分 1/" in request.question and "最新的" in request.question
    assert request.say.startswith("这段记录太长")
    # The question is stored like any message: the next /summarize leaves it out.
    await services.db.messages.add(conversation.id, "user", request.question)
    again = await conversation_summary(services.db, key, "2", "en", 8192)
    assert again.question is not None and "请总结" not in again.question
