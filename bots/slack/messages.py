"""From an addressed Slack message to an assistant turn: engagement, exactly-once, speaker, files,
and what was said before the bot was there (a thread, or the channel the assistant panel shows)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bots.slack.context_reader import ContextReader, Said
from bots.slack.feedback import AnswerFeedback
from bots.slack.files import FileProblem, SlackFiles
from bots.slack.panel import AssistantPanel
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
        reader: ContextReader,
        panel: AssistantPanel,
        answer_edits: bool = False,
        client: Any = None,
    ) -> None:
        self._client = client  # puts the 👍/👎 buttons on finished answers
        self._conversations = conversations
        self._assistant = assistant
        self._people = people
        self._files = files
        self._sinks = sinks
        self._reader = reader
        self._panel = panel
        self._answer_edits = answer_edits

    async def handle(
        self, addressed: Addressed, event: dict[str, Any], event_id: str, bot_user_id: str | None
    ) -> None:
        key = addressed.key
        if addressed.needs_engagement and not await self._conversations.is_engaged(key):
            return  # a thread the bot never joined
        if not await self._claim(addressed, event_id):
            return
        await self._answer(addressed, event, bot_user_id)

    async def handle_edit(
        self, addressed: Addressed, event: dict[str, Any], event_id: str, bot_user_id: str | None
    ) -> None:
        """An edited message: answered afresh only with ANSWER_EDITS and only if the bot had
        answered it (its message claim is taken), once per edit."""
        if not self._answer_edits:
            log.debug("Slack: edit of %s ignored (ANSWER_EDITS is off)", addressed.ts)
            return
        claim = self._conversations.claim_event
        message_id = f"{addressed.key.workspace}:{addressed.key.chat}:{addressed.ts}"
        if await claim("slack-message", message_id):
            log.debug("Slack: edit of %s ignored: the bot had not answered it", addressed.ts)
            return  # the claim just taken is harmless: that message is long past
        edited = str((event.get("edited") or {}).get("ts") or event_id)
        if event_id and not await claim("slack", event_id):
            return
        if not await claim("slack-edit", f"{message_id}:{edited}"):
            return
        await self._answer(addressed, event, bot_user_id)

    async def _answer(
        self, addressed: Addressed, event: dict[str, Any], bot_user_id: str | None
    ) -> None:
        key = addressed.key
        try:
            await self._read_earlier(addressed, event, bot_user_id)
        except Exception:  # the question is answered without the earlier messages
            log.exception("Slack: reading the earlier messages failed")
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
        lang = texts.language_of(incoming.text)
        async with AnswerFeedback(self._client, addressed.target, sink, lang) as feedback:
            feedback.rate(await self._assistant.handle(incoming, sink))

    async def _read_earlier(
        self, addressed: Addressed, event: dict[str, Any], bot_user_id: str | None
    ) -> None:
        """Store what was said before as context, before the turn is built.

        A channel thread the bot joins now: the thread so far (once; the thread is engaged
        afterwards). An assistant panel thread: the viewed channel's messages not yet stored,
        and the first question titles the thread.
        """
        key = addressed.key
        thread_ts = str(event.get("thread_ts") or "")
        if not thread_ts or thread_ts == addressed.ts:
            return
        first = not await self._conversations.is_engaged(key)
        if addressed.is_group:
            if first:
                said = await self._reader.thread(
                    key.chat, thread_ts, before=addressed.ts, bot_user_id=bot_user_id
                )
                await self._remember(addressed, said, named_in_text=False)
            return
        viewed = self._panel.viewing(key.chat, thread_ts)
        if viewed:
            after = self._panel.read_up_to(key.chat, thread_ts, viewed)
            said = await self._reader.channel(viewed, after=after, bot_user_id=bot_user_id)
            await self._remember(addressed, said, named_in_text=True)
            if said:
                self._panel.mark_read(key.chat, thread_ts, viewed, said[-1].ts)
        if first:
            question = question_text(str(event.get("text") or ""), bot_user_id)
            await self._panel.set_title(key.chat, thread_ts, question)

    async def _remember(
        self, addressed: Addressed, said: list[Said], *, named_in_text: bool
    ) -> None:
        """In order, as answered context; a DM conversation names no speakers, so the text does."""
        for message in said:
            text = f"{message.name}: {message.text}" if named_in_text else message.text
            await self._assistant.remember(
                Incoming(
                    key=addressed.key,
                    author=Author(id=f"slack:{message.user_id}", name=message.name),
                    text=text,
                    is_group=addressed.is_group,
                    platform_message_id=message.ts,
                ),
                answered=True,
            )
        if said:
            log.info("Slack: %d earlier messages stored as context", len(said))

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
