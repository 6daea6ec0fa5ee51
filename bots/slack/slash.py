"""The ``/kimi`` slash command: ``/kimi reset`` becomes the assistant command ``/reset``.

In a DM the command acts on the DM conversation and answers there. In a channel there is no
thread in a slash command's payload, and conversations live in threads: commands that act on
a conversation (the registry says which) get an ephemeral hint to use them in the thread;
help and usage answer ephemerally. ``/kimi help`` is the core's help and how to write the
commands in Slack. An answer in the DM ends with the feedback buttons, as mentions' answers do;
an ephemeral answer in a channel has none (it is gone when the client reloads).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import LRUCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.api import call, error_code
from bots.slack.context_reader import ContextReader
from bots.slack.feedback import AnswerFeedback
from bots.slack.messages import SinkFactory
from bots.slack.people import People
from bots.slack.routing import PLATFORM, is_dm_channel
from bots.slack.sink import EphemeralSink
from bots.slack.target import ReplyTarget
from core import command_registry, texts
from core.assistant import Assistant
from core.commands import Command, parse_command
from core.conversations import Conversations
from core.turn import TurnOutcome
from core.types import Author, ConversationKey, Incoming, ReplySink

log = logging.getLogger(__name__)

Respond = Callable[..., Awaitable[Any]]
DM_CACHE_SIZE = 10_000  # a user's DM with the bot never changes: only the size needs a bound


def command_text(text: str) -> str:
    """``reset`` → ``/reset``, nothing → ``/help``, anything else is a question (``/ask …``)."""
    stripped = text.strip()
    if not stripped:
        return "/help"
    word, *rest_of = stripped.split(maxsplit=1)
    rest = rest_of[0] if rest_of else ""
    name = word.lstrip("/").lower()
    if name in command_registry.NAMES:
        return f"/{name} {rest}".strip()
    return f"/ask {stripped}"


class SlashCommands:
    def __init__(
        self,
        *,
        client: AsyncWebClient,
        assistant: Assistant,
        people: People,
        sinks: SinkFactory,
        reader: ContextReader | None = None,
        conversations: Conversations | None = None,
    ) -> None:
        self._client = client
        self._assistant = assistant
        self._people = people
        self._sinks = sinks
        self._reader = reader
        self._conversations = conversations
        self._dms: LRUCache[str, str] = LRUCache(DM_CACHE_SIZE)

    async def run(self, command: dict[str, Any], respond: Respond, bot_user_id: str | None) -> None:
        text = command_text(str(command.get("text") or ""))
        parsed = parse_command(text)
        name = parsed.name if parsed else "ask"
        user = str(command.get("user_id") or "")
        team = str(command.get("team_id") or "")
        channel = str(command.get("channel_id") or "")
        person = await self._people.get(user)
        author = Author(id=f"slack:{user}", name=person.name)
        if is_dm_channel(channel) or command.get("channel_name") == "directmessage":
            dm = await self._dm_channel(user, channel)
            key = ConversationKey(platform=PLATFORM, workspace=team, chat=dm, thread="")
            target = ReplyTarget(dm, thread_ts=None, status_ts=None, user_id=user, team_id=team)
            incoming = Incoming(key, author, text, author_is_chat_admin=person.is_admin)
            lang = texts.language_of(text)
            sink = self._sinks(target, lang)
            async with AnswerFeedback(self._client, target, sink, lang) as feedback:
                feedback.rate(await self._answer(parsed, incoming, sink))
            return
        if name in command_registry.CONVERSATION_COMMANDS:
            mention = f"<@{bot_user_id}>" if bot_user_id else "@kimi"
            lang = texts.command_language(parsed.args if parsed else "")
            hint = texts.text("slack_channel_hint", lang, mention=mention, name=name)
            await respond(text=hint, response_type="ephemeral")
            return
        key = ConversationKey(platform=PLATFORM, workspace=team, chat=channel, thread="")
        if name == "summarize" and self._assistant.access.allows(Incoming(key, author, text)):
            await self._read_channel(key, bot_user_id)
        await self._answer(parsed, Incoming(key, author, text), EphemeralSink(respond))

    async def _read_channel(self, key: ConversationKey, bot_user_id: str | None) -> None:
        """``/kimi summarize`` in a channel: the channel's recent messages (within the context
        budget, newest kept) are stored as its context first, each once, so the summary is of
        what people said, not only of what the bot happened to see."""
        if self._reader is None or self._conversations is None:
            return
        said = await self._reader.channel(key.chat, after=None, bot_user_id=bot_user_id)
        fresh = set(await self._conversations.unseen(key, [s.ts for s in said]))
        for message in said:
            if message.ts not in fresh:
                continue
            await self._assistant.remember(
                Incoming(
                    key=key,
                    author=Author(id=f"slack:{message.user_id}", name=message.name),
                    text=message.text,
                    is_group=True,
                    platform_message_id=message.ts,
                ),
                answered=True,
            )
        if fresh:
            log.info("Slack: %d channel messages stored before /kimi summarize", len(fresh))

    async def _answer(
        self, parsed: Command | None, incoming: Incoming, sink: ReplySink
    ) -> TurnOutcome | None:
        """Help adds how commands are written in Slack (``/kimi reset``, ``@kimi /reset``); the
        core answers everything else, and refuses help too to someone the bot does not serve."""
        if parsed and parsed.name in {"help", "start"} and self._assistant.access.allows(incoming):
            lang = texts.command_language(parsed.args, incoming.language)
            note = texts.text("slack_help_note", lang)
            await sink.reply(f"{command_registry.help_text(lang)}\n\n{note}")
            return None
        return await self._assistant.handle(incoming, sink)

    async def _dm_channel(self, user: str, fallback: str) -> str:
        """The bot's own DM with the user (the command may come from a DM with someone else)."""
        known = self._dms.get(user)
        if known is not None:
            return known
        try:
            response = await call(lambda _: self._client.conversations_open(users=user))
            channel = str(response["channel"]["id"])
        except (SlackApiError, KeyError, TypeError) as error:
            detail = error_code(error) if isinstance(error, SlackApiError) else "bad answer"
            log.warning("conversations.open failed for %s: %s", user, detail)
            return fallback
        self._dms[user] = channel
        return channel
