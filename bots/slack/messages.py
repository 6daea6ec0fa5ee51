"""From an addressed Slack message to an assistant turn: engagement, exactly-once, speaker, files."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bots.slack.files import FileProblem, SlackFiles
from bots.slack.people import People
from bots.slack.routing import Addressed, question_text
from bots.slack.target import ReplyTarget
from core import texts
from core.assistant import Assistant
from core.conversations import Conversations
from core.types import Attachment, Author, Incoming, ReplySink

log = logging.getLogger(__name__)

SinkFactory = Callable[[ReplyTarget, str], ReplySink]  # target, language


class MessageHandler:
    """Runs in the background after the event was acknowledged."""

    def __init__(
        self,
        *,
        conversations: Conversations,
        assistant: Assistant,
        people: People,
        files: SlackFiles,
        sinks: SinkFactory,
    ) -> None:
        self._conversations = conversations
        self._assistant = assistant
        self._people = people
        self._files = files
        self._sinks = sinks

    async def handle(
        self, addressed: Addressed, event: dict[str, Any], event_id: str, bot_user_id: str | None
    ) -> None:
        key = addressed.key
        if addressed.needs_engagement and not await self._conversations.is_engaged(key):
            return  # a thread the bot never joined
        if not await self._claim(addressed, event_id):
            return
        person = await self._people.get(addressed.user_id)
        incoming = Incoming(
            key=key,
            author=Author(id=f"slack:{addressed.user_id}", name=person.name),
            text=question_text(str(event.get("text") or ""), bot_user_id),
            is_group=addressed.is_group,
            platform_message_id=addressed.ts,
            author_is_chat_admin=person.is_admin,
        )
        sink = self._sinks(addressed.target, texts.language_of(incoming.text))
        files = [f for f in event.get("files") or [] if isinstance(f, dict)]
        if files and self._assistant.access.allows(incoming):
            lang = texts.language_of(incoming.text)
            attachments = await self._attachments(files, sink, lang)
            if not attachments and not incoming.text.strip():
                return  # every file was refused, and each refusal was said
            incoming = replace(incoming, attachments=tuple(attachments))
        await self._assistant.handle(incoming, sink)

    async def _claim(self, addressed: Addressed, event_id: str) -> bool:
        """Exactly once, across redeliveries and workers: by event id, then by message.

        The message claim makes the ``app_mention``/``message`` pair safe even if both were
        ever routed to an answer.
        """
        claim = self._conversations.claim_event
        if event_id and not await claim("slack", event_id):
            log.info("Slack event %s already taken (redelivery or another worker)", event_id)
            return False
        message_id = f"{addressed.key.workspace}:{addressed.key.chat}:{addressed.ts}"
        if not await claim("slack-message", message_id):
            log.info("Slack message %s already answered", message_id)
            return False
        return True

    async def _attachments(
        self, files: list[dict[str, Any]], sink: ReplySink, lang: str
    ) -> list[Attachment]:
        attachments: list[Attachment] = []
        for file in files:
            try:
                attachments.append(await self._files.attachment(file))
            except FileProblem as problem:
                await sink.reply(problem.message(lang))
            except Exception:
                log.exception("could not check a Slack file")
                name = file.get("name") or texts.text("slack_a_file", lang)
                await sink.reply(texts.text("slack_file_failed", lang, name=name))
        return attachments
