"""``/kimi`` help from the command registry, thread-only commands, and replies in Chinese."""

from __future__ import annotations

import re
from pathlib import Path

from core import command_registry, texts
from emulators.slack import SlackEmulator
from tests.slack.conftest import SlackBot


async def test_kimi_help_lists_exactly_the_registry_and_how_to_write_it(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    await emu.slash_command("/kimi", "help", "D1", "U1")
    await bot.idle()
    [shown] = [m.text for m in emu.messages("D1")]
    listed = re.findall(r"^/(\w+)", shown, flags=re.MULTILINE)
    assert listed == [spec.name for spec in command_registry.offered(group=False)]
    assert "/kimi reset" in shown
    assert moonshot.requests == []


async def test_every_conversation_command_in_a_channel_points_to_the_thread(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    await emu.slash_command("/kimi", "docs", "C1", "U1")
    await emu.slash_command("/kimi", "search off", "C1", "U1")
    await bot.idle()
    await emu.wait_for(lambda: len(emu.command_responses) == 2)
    docs, search = sorted(r["body"]["text"] for r in emu.command_responses)
    assert f"<@{emu.bot_user_id}> /docs" in docs and "thread" in docs
    assert f"<@{emu.bot_user_id}> /search" in search
    assert emu.messages("C1") == []


async def test_a_refused_file_is_explained_in_the_language_of_the_message(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    program = emu.add_file("F11", "setup.exe", "application/x-msdownload", b"MZ\x90", user="U1")
    await emu.user_message("D1", "U1", "这个文件是做什么的？", files=[program])
    await bot.idle()
    shown = [m.text for m in emu.messages("D1")]
    assert texts.text("doc_format", "zh", name="setup.exe") in shown
    assert moonshot.requests == []


def test_the_manifest_hints_every_command_of_a_dm() -> None:
    """``/kimi`` in the app manifest (static YAML) names the registry's commands; ``start``
    is Telegram's first-contact button, and a question needs no command word."""
    manifest = (Path(__file__).resolve().parents[2] / "slack-manifest.yml").read_text("utf-8")
    [hint] = re.findall(r'usage_hint: "\[(.*)\]"', manifest)
    written = [part.strip() for part in hint.split(" | ")]
    expected = [spec.usage()[1:] for spec in command_registry.offered(group=False)]
    assert written == ["question", *[usage for usage in expected if usage != "start"]]
