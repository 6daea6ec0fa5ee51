"""``/admin`` in Telegram, end to end (python-telegram-bot against the Telegram emulator): a
one-time console link for ADMINS in a private chat, a clear refusal for anyone else or in a
group; and the link, sent by one worker, signs in on another (the token lives in the database)."""

from __future__ import annotations

import re

import pytest

from tests.admin.auth_support import follow_link, running_console
from tests.telegram.conftest import (  # noqa: F401 (fixtures used by name)
    BOB,
    GROUP,
    USER,
    handled,
    start_bot,
    tg,
    visible,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

LINK = re.compile(r"(https?://\S+/admin/link/([\w-]+))")


async def test_admin_gets_a_one_time_link_in_a_private_chat_only(
    tg,  # noqa: F811
    start_bot,  # noqa: F811
    moonshot,
    sqlite_url,
):
    bot = await start_bot(admins=f"telegram:{USER}", public_url="http://console.test")
    tg.user_message(USER, USER, "/admin")
    tg.user_message(BOB, BOB, "/admin", first_name="Bob")
    tg.user_message(GROUP, USER, "/admin")
    await handled(tg, bot, 3)

    reply = visible(tg, USER)[-1]
    found = LINK.search(reply)
    assert found, reply
    url, token = found.groups()
    assert url.startswith("http://console.test/admin/link/")
    assert "works once" in reply
    assert "/admin/link/" not in " ".join(visible(tg, BOB))
    assert "Only the bot's operators" in visible(tg, BOB)[-1]
    assert "private chat" in visible(tg, GROUP)[-1]
    assert "/admin/link/" not in " ".join(visible(tg, GROUP))
    assert moonshot.requests == [], "no model call for /admin"

    async with running_console(
        moonshot.base_url, sqlite_url, admins=f"telegram:{USER}", admin_token=None
    ) as console:
        client = console.browser()
        assert (await follow_link(client, token)).status == 303
        async with client.get("/admin/audit") as page:
            assert page.status == 200
            assert f"telegram:{USER}" in await page.text()
        again = console.browser()
        async with again.get(f"/admin/link/{token}") as page:
            assert page.status == 403, "the link works once"

    tg.user_message(USER, USER, "/admin")
    await handled(tg, bot, 4)
    second = LINK.search(visible(tg, USER)[-1])
    assert second and second.group(2) != token, "each /admin makes a new link"


async def test_admin_is_in_the_private_command_menu_and_help(
    tg,  # noqa: F811
    start_bot,  # noqa: F811
):
    bot = await start_bot(admins=f"telegram:{USER}")
    tg.user_message(USER, USER, "/help")
    await handled(tg, bot, 1)
    assert "/admin" in visible(tg, USER)[-1]
    private_menu = [c["command"] for c in tg.commands({"type": "all_private_chats"})]
    group_menu = [c["command"] for c in tg.commands({"type": "all_group_chats"})]
    assert "admin" in private_menu and "admin" not in group_menu
