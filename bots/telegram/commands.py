"""The command menu Telegram shows, per scope (private chats and groups) and language.

Made from the core's command registry: the default menu in English, and a Chinese one that
Telegram shows to users whose app is in Chinese.
"""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats
from telegram.error import TelegramError

from bots.telegram.delivery import describe
from core.command_registry import offered

log = logging.getLogger(__name__)

MENU_LANGUAGES = {"en": None, "zh": "zh"}  # our language → Telegram's language_code (None: all)


def menu(lang: str, *, group: bool) -> list[BotCommand]:
    """The registry's commands offered in this kind of chat, described in ``lang``."""
    return [
        BotCommand(spec.name, _capitalized(spec.describe(lang, group=group)))
        for spec in offered(group=group)
    ]


def _capitalized(line: str) -> str:
    return line[:1].upper() + line[1:]


async def register_commands(bot: Bot) -> None:
    """Best effort: a bot without a menu still works, so a failure here only logs."""
    try:
        for lang, code in MENU_LANGUAGES.items():
            await bot.set_my_commands(
                menu(lang, group=False), scope=BotCommandScopeAllPrivateChats(), language_code=code
            )
            await bot.set_my_commands(
                menu(lang, group=True), scope=BotCommandScopeAllGroupChats(), language_code=code
            )
    except TelegramError as exc:
        log.warning("could not register the command menu: %s", describe(exc))
