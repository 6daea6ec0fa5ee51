"""How an answer streams in a private chat: parts land as they fill up, replies do not stop it."""

from __future__ import annotations

import pytest

from bots.telegram.formatting import split_for_telegram
from emulators.moonshot import Fault, ScriptedReply
from emulators.moonshot.answers import long_text
from emulators.telegram import utf16_len
from tests.telegram.conftest import USER, handled, visible

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def words(text: str) -> list[str]:
    """The answer's words as a chat shows them (code fences are formatting, not text)."""
    return [w for w in text.split() if not w.startswith("```")]


async def test_a_long_private_answer_lands_each_finished_part_while_it_streams(
    tg, moonshot, start_bot
):
    bot = await start_bot()
    moonshot.inject(Fault(kind="slow_tokens", delay=0.002))
    tg.user_message(USER, USER, "a long one please [[len:10000]]")
    await handled(tg, bot, 1, within=60)

    expected = long_text(10000)
    messages = [m for m in tg.messages(USER) if not m.deleted]
    assert len(messages) == len(split_for_telegram(expected)) >= 3
    assert all(utf16_len(m.text) <= 4096 for m in messages)
    assert words("\n".join(m.text for m in messages)) == words(expected)
    assert all(m.edits == [] for m in messages), "each part is sent once, complete"
    assert tg.calls_of("editMessageText") == []
    sends = [c.timestamp for c in tg.calls_of("sendMessage")]
    drafts = tg.calls_of("sendMessageDraft")
    assert len(sends) == len(messages)
    # Every part but the last became a real message while the answer was still streaming.
    assert all(sent < drafts[-1].timestamp for sent in sends[:-1])
    # Once the first part has landed, the draft shows only the part still growing.
    later = [d.params["text"] for d in drafts if d.timestamp > sends[0]]
    assert later and not any("P1.1:" in text for text in later)
    assert tg.flood_violations == []


async def test_a_reply_does_not_stop_the_answer_streaming(tg, moonshot, start_bot):
    """The ReplySink rule (core/types.py): a reply (here the document's acknowledgement) is a
    message of its own, and the answer keeps streaming after it."""
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    answer = " ".join(f"word{i}" for i in range(80))
    moonshot.enqueue(ScriptedReply(text=answer))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.02))
    tg.user_document(
        USER, USER, b"Owls meet at dawn by the old mill.", "owls.txt", "text/plain", caption="When?"
    )
    await handled(tg, bot, 1, within=30)

    acknowledgement, final = visible(tg, USER)
    assert "Added “owls.txt” as document #1" in acknowledgement
    assert final.startswith(answer)
    [acknowledged] = [c for c in tg.calls_of("sendMessage") if "owls.txt" in c.params["text"]]
    drafts = [c for c in tg.calls_of("sendMessageDraft") if c.timestamp > acknowledged.timestamp]
    assert len(drafts) >= 2, "the answer is previewed after the reply"
    assert all(answer.startswith(d.params["text"]) for d in drafts)
    assert tg.messages(USER)[-1].edits == []
    assert tg.flood_violations == []
