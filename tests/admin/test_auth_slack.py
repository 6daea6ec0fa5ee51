"""``/admin`` in Slack, end to end (slack-bolt against the Slack emulator): an admin's DM gets a
one-time console link (as a message or through ``/kimi admin``), anyone else a refusal, and a
channel never shows the link to anyone but the asker."""

from __future__ import annotations

import re

from emulators.slack import SlackEmulator
from tests.slack.conftest import (  # noqa: F401 (fixtures used by name)
    SlackBot,
    StartBot,
    emu,
    start_bot,
)

LINK = re.compile(r"https?://\S+/admin/link/[\w-]+")


async def test_an_admins_dm_gets_a_link_and_nobody_else_does(
    emu: SlackEmulator,  # noqa: F811
    start_bot: StartBot,  # noqa: F811
    moonshot,
) -> None:
    bot: SlackBot = await start_bot(admins="slack:U1", public_url="https://kimi.example")
    await emu.user_message("D1", "U1", "/admin")
    await emu.user_message("D2", "U2", "/admin")
    await bot.idle()
    admin_dm = " ".join(m.text for m in emu.messages("D1"))
    other_dm = " ".join(m.text for m in emu.messages("D2"))
    [link] = LINK.findall(admin_dm)
    assert link.startswith("https://kimi.example/admin/link/")
    assert LINK.findall(other_dm) == [] and "Only the bot's operators" in other_dm

    await emu.slash_command("/kimi", "admin", "D1", "U1")
    await emu.slash_command("/kimi", "admin", "C1", "U1")
    await bot.idle()
    await emu.wait_for(lambda: len(emu.command_responses) == 1)
    [ephemeral] = [r["body"]["text"] for r in emu.command_responses]
    assert LINK.search(ephemeral), "in a channel the link is shown to the asker alone"
    links = LINK.findall(" ".join(m.text for m in emu.messages("D1")))
    assert len(set(links)) == 2, "each /admin makes a new link"
    assert emu.messages("C1") == [], "nothing is posted where others could read it"
    assert moonshot.requests == []
