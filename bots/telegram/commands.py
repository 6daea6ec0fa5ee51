"""The command menu Telegram shows, per scope (private chats and groups)."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats
from telegram.error import TelegramError

from bots.telegram.delivery import describe

log = logging.getLogger(__name__)

_COMMON = [
    ("help", "What I can do"),
    ("reset", "Start a new conversation"),
    ("model", "Show or switch the Kimi model"),
    ("system", "Show or set the system prompt"),
    ("usage", "Tokens and cost (CNY)"),
    ("cancel", "Stop the answer in progress"),
    ("docs", "Documents in this conversation"),
    ("forget", "Remove documents: /forget N or /forget all"),
]
PRIVATE_COMMANDS = [BotCommand("start", "Start chatting with Kimi")] + [
    BotCommand(name, description) for name, description in _COMMON
]
GROUP_COMMANDS = [BotCommand("ask", "Ask Kimi a question")] + [
    BotCommand(name, description + (" (admins)" if name in ("reset", "system") else ""))
    for name, description in _COMMON
]


async def register_commands(bot: Bot) -> None:
    """Best effort: a bot without a menu still works, so a failure here only logs."""
    try:
        await bot.set_my_commands(PRIVATE_COMMANDS, scope=BotCommandScopeAllPrivateChats())
        await bot.set_my_commands(GROUP_COMMANDS, scope=BotCommandScopeAllGroupChats())
    except TelegramError as exc:
        log.warning("could not register the command menu: %s", describe(exc))
