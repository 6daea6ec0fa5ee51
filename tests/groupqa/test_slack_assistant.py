"""Slack's assistant panel: suggested prompts, the thread title, the channel in view; and
edited messages (answered again only with ANSWER_EDITS)."""

from __future__ import annotations

from pathlib import Path

from emulators.slack import SlackEmulator
from tests.slack import conftest as slack
from tests.slack.conftest import StartBot, user_texts

# The Slack fixtures (this package's conftest.py holds the Telegram ones).
emu, start_bot, bot = slack.emu, slack.start_bot, slack.bot

MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yml"


async def test_thread_started_offers_the_default_prompts_in_the_users_language(
    emu: SlackEmulator, bot
) -> None:
    emu.add_user("U3", name="li", real_name="Li Wei", display_name="Li", locale="zh-CN")
    emu.add_channel("D3", is_im=True, user="U3")
    thread_ts, delivery = await emu.assistant_thread_started("D1", "U1")
    assert delivery.status == 200
    zh_ts, _ = await emu.assistant_thread_started("D3", "U3")
    await bot.idle()
    english, chinese = emu.suggested_prompts
    assert (english["channel"], english["thread_ts"]) == ("D1", thread_ts)
    assert english["title"] == "Try asking"
    assert english["prompts"][0]["message"] == "Summarize this channel"
    assert all(p["title"] and p["message"] for p in english["prompts"])
    assert (chinese["thread_ts"], chinese["title"]) == (zh_ts, "试着问问")
    assert chinese["prompts"][0]["message"] == "总结这个频道"


async def test_configured_prompts_are_offered(emu: SlackEmulator, start_bot: StartBot) -> None:
    bot = await start_bot(slack_suggested_prompts="Plan my week|Review this, please")
    await emu.assistant_thread_started("D1", "U1")
    await bot.idle()
    [offered] = emu.suggested_prompts
    assert [p["message"] for p in offered["prompts"]] == ["Plan my week", "Review this, please"]


async def test_first_question_sets_the_title_once(emu: SlackEmulator, bot, moonshot) -> None:
    thread_ts, _ = await emu.assistant_thread_started("D1", "U1")
    await emu.user_message("D1", "U1", "How do I   rotate\nan API key?", thread_ts=thread_ts)
    await bot.idle()
    await emu.user_message("D1", "U1", "and revoke the old one?", thread_ts=thread_ts)
    await bot.idle()
    assert emu.titles == [("D1", thread_ts, "How do I rotate an API key?")]
    assert user_texts(moonshot.requests[-1]) == [
        "How do I   rotate\nan API key?",
        "and revoke the old one?",
    ]


async def test_context_changed_then_summarize_this_channel_reads_it(
    emu: SlackEmulator, bot, moonshot
) -> None:
    emu.add_channel("C2", name="random")
    emu.seed_message("C1", "U2", "deploy is at noon")
    emu.seed_message("C1", "U1", "I'll watch the dashboards")
    emu.seed_message("C2", "U2", "cat pictures")
    thread_ts, _ = await emu.assistant_thread_started("D1", "U1", context_channel="C2")
    await emu.assistant_context_changed("D1", "U1", thread_ts, "C1")
    await bot.idle()
    await emu.user_message("D1", "U1", "Summarize this channel", thread_ts=thread_ts)
    await bot.idle()
    assert user_texts(moonshot.requests[-1]) == [
        "Bob: deploy is at noon",
        "Alice: I'll watch the dashboards",
        "Summarize this channel",
    ]
    [read] = emu.calls_of("conversations.history")
    assert read.params["channel"] == "C1"

    emu.seed_message("C1", "U2", "deploy moved to 2pm")
    await emu.user_message("D1", "U1", "anything new?", thread_ts=thread_ts)
    await bot.idle()
    texts = user_texts(moonshot.requests[-1])
    assert texts[-2:] == ["Bob: deploy moved to 2pm", "anything new?"]
    assert texts.count("Bob: deploy is at noon") == 1, "what was stored is not stored again"


async def test_the_panel_off_in_the_workspace_changes_nothing(
    emu: SlackEmulator, bot, moonshot
) -> None:
    emu.inject("assistant.threads.setSuggestedPrompts", "not_allowed")
    emu.inject("assistant.threads.setTitle", "not_allowed")
    thread_ts, delivery = await emu.assistant_thread_started("D1", "U1")
    await emu.user_message("D1", "U1", "hi there", thread_ts=thread_ts)
    await bot.idle()
    assert delivery.status == 200
    assert emu.suggested_prompts == [] and emu.titles == []
    assert "Echo (kimi-k2): hi there" in [m.text for m in emu.messages("D1", thread_ts=thread_ts)]


async def test_edits_are_answered_again_only_when_configured(
    emu: SlackEmulator, start_bot: StartBot, moonshot
) -> None:
    bot = await start_bot()
    sent = await emu.user_message("D1", "U1", "what is 2+2?")
    await bot.idle()
    await emu.edit_message("D1", sent.ts, "what is 3+3?")
    await bot.idle()
    assert len(moonshot.requests) == 1, "ANSWER_EDITS is off: the edit is ignored"
    await bot.close()

    bot = await start_bot(answer_edits=True)
    await emu.edit_message("D1", sent.ts, "what is 4+4?")
    await bot.idle()
    assert len(moonshot.requests) == 2
    assert user_texts(moonshot.requests[-1])[-1] == "what is 4+4?"
    answers = [m.text for m in emu.messages("D1")]
    assert "Echo (kimi-k2): what is 4+4?" in answers


async def test_edits_of_messages_the_bot_never_answered_are_ignored(
    emu: SlackEmulator, start_bot: StartBot, moonshot
) -> None:
    bot = await start_bot(answer_edits=True)
    chatter = await emu.user_message("C1", "U1", "just chatting")
    await emu.edit_message("C1", chatter.ts, "just chatting (edited)")
    mention = await emu.user_message("C1", "U2", "capital of France?", mention_bot=True)
    await bot.idle()
    delivery = await emu.edit_message("C1", mention.ts, f"<@{emu.bot_user_id}> capital of Spain?")
    assert delivery.status == 200
    await bot.idle()
    await emu.redeliver(delivery.payload)  # Slack retries: still one fresh answer
    await bot.idle()
    assert [user_texts(r)[-1] for r in moonshot.requests] == [
        "Bob: capital of France?",
        "Bob: capital of Spain?",
    ]


def test_manifest_subscribes_to_the_panel_and_explains_every_scope() -> None:
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    stripped = [line.strip() for line in lines]
    for needed in ("- assistant_thread_started", "- assistant_thread_context_changed"):
        assert needed in stripped
    start = stripped.index("bot:")
    checked = 0
    for i in range(start + 1, len(lines)):
        if not lines[i].startswith("      "):
            break  # the end of the bot scopes
        if stripped[i].startswith("- "):
            assert stripped[i - 1].startswith("#"), f"say what {stripped[i]} is for"
            checked += 1
    assert checked >= 11
