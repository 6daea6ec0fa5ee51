"""Telegram's command menus and ``/help`` list exactly the core's command registry."""

from __future__ import annotations

import re

import pytest

from core import command_registry
from tests.telegram.conftest import GROUP, USER, handled, visible

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

PRIVATE = {"type": "all_private_chats"}
GROUPS = {"type": "all_group_chats"}


def names(group: bool) -> list[str]:
    return [spec.name for spec in command_registry.offered(group=group)]


async def test_the_menus_are_the_registry_in_english_and_chinese(tg, moonshot, start_bot):
    await start_bot()
    for scope, group in ((PRIVATE, False), (GROUPS, True)):
        for language_code in ("", "zh"):
            menu = tg.commands(scope, language_code=language_code)
            assert [c["command"] for c in menu] == names(group), (scope, language_code)
    assert "search" in [c["command"] for c in tg.commands(PRIVATE)]
    descriptions = {c["command"]: c["description"] for c in tg.commands(GROUPS, "zh")}
    assert descriptions["ask"] == "向 Kimi 提问"
    assert descriptions["reset"].endswith("（仅管理员）")
    assert not tg.commands(PRIVATE, "zh")[0]["description"].isascii()


async def test_help_lists_the_commands_of_a_private_chat_and_of_a_group(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    tg.user_command(USER, USER, "help")
    await handled(tg, bot, 1)
    tg.user_command(GROUP, USER, "help", to_bot=True)
    await handled(tg, bot, 2)
    for chat, group in ((USER, False), (GROUP, True)):
        shown = visible(tg, chat)[-1]
        assert re.findall(r"^/(\w+)", shown, flags=re.MULTILINE) == names(group), shown
    assert moonshot.requests == []
