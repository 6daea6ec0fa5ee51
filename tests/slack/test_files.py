"""Shared files reach the engine as attachments that download with the bot token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.documents.formats import DocumentRejected
from core.types import Incoming
from emulators.slack import SlackEmulator
from tests.slack.conftest import SlackBot

PDF = b"%PDF-1.4 quarterly numbers \x00\x01\x02 end"


@pytest.fixture
def handled(bot: SlackBot, monkeypatch: pytest.MonkeyPatch) -> list[Incoming]:
    """Every Incoming the engine was given (the real engine still answers)."""
    seen: list[Incoming] = []
    engine = bot.services.assistant
    original: Callable[..., Any] = engine.handle

    async def spy(incoming: Incoming, sink: Any) -> Any:
        seen.append(incoming)
        return await original(incoming, sink)

    monkeypatch.setattr(engine, "handle", spy)
    return seen


async def test_file_share_hands_the_file_to_the_engine(
    emu: SlackEmulator, bot: SlackBot, handled: list[Incoming]
) -> None:
    file = emu.add_file("F1", "report.pdf", "application/pdf", PDF, user="U1")
    await emu.user_message("D1", "U1", "what is in this report?", files=[file])
    await bot.idle()
    [incoming] = handled
    assert incoming.text == "what is in this report?"
    [attachment] = incoming.attachments
    assert (attachment.name, attachment.mime_type, attachment.size) == (
        "report.pdf",
        "application/pdf",
        len(PDF),
    )
    assert await attachment.fetch() == PDF
    assert emu.file_downloads[-1] == ("F1", True), "downloaded with the bot token"
    # Access lost between the check and the download: a refusal the core replies with.
    emu.files.bot_token = "xoxb-another-app"
    with pytest.raises(DocumentRejected, match="files:read"):
        await attachment.fetch()


async def test_file_mentioned_in_a_channel_thread(
    emu: SlackEmulator, bot: SlackBot, handled: list[Incoming]
) -> None:
    file = emu.add_file("F2", "notes.txt", "text/plain", b"hello notes", user="U2")
    sent = await emu.user_message("C1", "U2", "summarize", mention_bot=True, files=[file])
    await bot.idle()
    [incoming] = handled
    assert incoming.key.thread == sent.ts and incoming.author.name == "Bob"
    assert await incoming.attachments[0].fetch() == b"hello notes"


async def test_no_files_read_permission_gets_a_clear_reply(
    emu: SlackEmulator, bot: SlackBot, handled: list[Incoming], moonshot
) -> None:
    emu.files.bot_token = "xoxb-another-app"  # Slack answers our token with its sign-in page
    file = emu.add_file("F3", "secret.pdf", "application/pdf", PDF, user="U1")
    await emu.user_message("D1", "U1", "", files=[file])
    await bot.idle()
    [reply] = emu.messages("D1")
    assert "files:read" in reply.text and "secret.pdf" in reply.text
    assert handled == [], "nothing is ingested"
    assert moonshot.requests == []


async def test_oversized_file_is_refused_but_the_question_answered(
    emu: SlackEmulator, bot: SlackBot, handled: list[Incoming]
) -> None:
    big = emu.add_file("F4", "huge.pdf", "application/pdf", b"x", size=150 * 1024 * 1024)
    await emu.user_message("D1", "U1", "and this one?", files=[big])
    await bot.idle()
    refusal, answer = emu.messages("D1")
    assert "100 MB" in refusal.text and "huge.pdf" in refusal.text
    assert answer.text == "Echo (kimi-k2): and this one?"
    assert handled[0].attachments == ()
    assert emu.file_downloads == [], "an oversized file is not even requested"
