"""One Telegram update in, one assistant call out: dedupe, addressing, Incoming, sink, errors.

Updates are processed concurrently (PTB ``concurrent_updates``); the assistant serializes turns
per conversation, and ``/cancel`` can therefore stop an answer that is still streaming.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from cachetools import LRUCache
from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bots.telegram.addressing import (
    GROUP_TYPES,
    Addressing,
    BotIdentity,
    address,
    conversation_key,
    topic_id,
)
from bots.telegram.admins import ChatAdmins
from bots.telegram.albums import Albums
from bots.telegram.attachments import (
    attachment,
    file_of,
    too_large_text,
    unsupported_of,
    unsupported_text,
)
from bots.telegram.chat_action import TypingIndicator
from bots.telegram.delivery import Body, ChatTarget, MessageWriter, describe
from bots.telegram.flood import FloodGuard
from bots.telegram.reactions import record_reaction
from bots.telegram.replies import reply_context
from bots.telegram.sink import TelegramSink
from core import texts
from core.assistant import Assistant
from core.commands import parse_command
from core.config import Settings
from core.conversations import Conversations
from core.feedback import Feedback
from core.quoting import with_quote
from core.types import Author, Incoming

log = logging.getLogger(__name__)

TelegramSinkFactory = Callable[..., TelegramSink]
NO_DRAFTS_SIZE = 100_000  # chats remembered as refusing drafts; the least recently told go first


class UpdateProcessor:
    """The PTB callback for every update (a ``TypeHandler(Update, ...)``)."""

    def __init__(
        self,
        *,
        settings: Settings,
        conversations: Conversations,
        assistant: Assistant,
        bot: Bot,
        identity: Callable[[], BotIdentity],
        guard: FloodGuard,
        feedback: Feedback | None = None,
    ) -> None:
        self._settings = settings
        self._feedback = feedback
        self._conversations = conversations
        self._assistant = assistant
        self._bot = bot
        self._identity = identity
        self._guard = guard
        self._admins = ChatAdmins(bot)
        self._no_drafts: LRUCache[int, bool] = LRUCache(NO_DRAFTS_SIZE)
        self._drafts_everywhere = True
        self._albums = Albums(settings.telegram_album_wait)
        self.sink_factory: TelegramSinkFactory = TelegramSink
        self.processed = 0  # updates fully handled (tests and health checks wait on it)

    async def __call__(self, update: object, _context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            if isinstance(update, Update):
                await self.process(update)
        finally:
            self.processed += 1

    async def process(self, update: Update) -> None:
        if update.message_reaction is not None:
            await self._reaction(update)
            return
        message = update.message
        edit = message is None and update.edited_message is not None
        if edit:
            if not self._settings.answer_edits:
                return  # edits are not answered (ANSWER_EDITS off): ignored, not an error
            message = update.edited_message
        if message is None or message.chat.type not in (ChatType.PRIVATE, *GROUP_TYPES):
            return  # channel posts, callbacks: not conversation turns
        sender = message.from_user
        if sender is None or (sender.is_bot and message.sender_chat is None):
            return
        messages = [message]
        lead, decision = self._lead(messages)
        incoming = self._incoming(message, decision.text)
        target = self._target(message, incoming)
        lang = texts.language_of(incoming.text)
        try:
            if not await self._conversations.claim_event("telegram", str(update.update_id)):
                log.info("telegram update %s seen before; skipped", update.update_id)
                return
            if edit:
                if not decision.addressed or not await self._fresh_edit(message, incoming):
                    return
            elif message.media_group_id:
                album = await self._albums.collect(message)
                if album is None:
                    return  # the album's first update answers for all of it
                messages = album
                lead, decision = self._lead(messages)
                incoming = self._incoming(lead, decision.text)
                target = self._target(lead, incoming)
                lang = texts.language_of(incoming.text)
            if decision.addressed:
                await self._answer(messages, lead, incoming, target, lang)
            elif self._settings.telegram_group_context and incoming.text.strip():
                await self._assistant.remember(incoming)
        except Exception as exc:
            log.error(
                "telegram update %s in %s failed: %s",
                update.update_id,
                incoming.key.label(),
                describe(exc),
            )
            if decision.addressed:
                await self._say(target, texts.text("internal", lang))

    def _lead(self, messages: list[Message]) -> tuple[Message, Addressing]:
        """The message that speaks for an album (the one with the caption, which Telegram puts
        on one item) and what it says; a lone message speaks for itself."""
        identity = self._identity()
        decisions = [(m, address(m, identity)) for m in messages]
        for wanted in (
            lambda d: d.addressed and d.text,
            lambda d: d.addressed,
            lambda d: d.text,
        ):
            for message, decision in decisions:
                if wanted(decision):
                    return message, decision
        return decisions[0]

    @staticmethod
    def _target(message: Message, incoming: Incoming) -> ChatTarget:
        return ChatTarget(
            chat_id=message.chat.id,
            thread_id=topic_id(message),
            is_group=incoming.is_group,
            reply_to=message.message_id if incoming.is_group else None,
        )

    def _incoming(self, message: Message, text: str) -> Incoming:
        sender = message.from_user
        author = Author(
            id=f"telegram:{sender.id}" if sender else "telegram:unknown",
            name=sender.full_name if sender else "",
        )
        return Incoming(
            key=conversation_key(message),
            author=author,
            text=text,
            is_group=message.chat.type in GROUP_TYPES,
            platform_message_id=str(message.message_id),
            language=texts.language_tag(sender.language_code or "") if sender else "",
        )

    async def _answer(
        self,
        messages: list[Message],
        message: Message,
        incoming: Incoming,
        target: ChatTarget,
        lang: str,
    ) -> None:
        if not await self._attach(messages, incoming, target, lang):
            return
        refs = [ref for m in messages if (ref := file_of(m)) is not None and not ref.too_large]
        if refs:
            incoming = replace(
                incoming, attachments=tuple(attachment(self._bot, ref) for ref in refs)
            )
        incoming = await self._with_reply(message, incoming, target, lang)
        command = parse_command(incoming.text)
        if command is not None and command.name != "ask" and incoming.is_group:
            # Which commands are admin-only is the core's business; it needs the fact (cached).
            incoming = replace(incoming, author_is_chat_admin=await self._admins.is_admin(message))
        typing = None
        if (command is None or command.name == "ask") and self._assistant.access.allows(incoming):
            typing = TypingIndicator(self._bot, target.chat_id, target.thread_id)
            typing.start()
        private = not incoming.is_group
        writer = MessageWriter(self._bot, self._guard, target)
        sink = self.sink_factory(
            writer,
            interval=(
                self._settings.telegram_edit_interval_private
                if private
                else self._settings.telegram_edit_interval_group
            ),
            use_drafts=private
            and self._drafts_everywhere
            and target.chat_id not in self._no_drafts,
            lang=lang,
            typing=typing,
            on_drafts_refused=lambda everywhere: self._drafts_refused(target.chat_id, everywhere),
        )
        try:
            outcome = await self._assistant.handle(incoming, sink)
        finally:
            if typing is not None:
                typing.stop()
        if outcome is not None and outcome.answer_id and self._feedback is not None:
            # The answer's messages: a 👍/👎 reaction on any of them rates it.
            await self._feedback.link(
                "telegram", str(target.chat_id), map(str, writer.sent), outcome.answer_id
            )

    async def _reaction(self, update: Update) -> None:
        """A reaction: feedback when it is 👍/👎 on an answer; exactly once, like messages."""
        reaction = update.message_reaction
        if reaction is None or self._feedback is None:
            return
        try:
            if await self._conversations.claim_event("telegram", str(update.update_id)):
                await record_reaction(self._feedback, reaction)
        except Exception as exc:
            log.error("telegram reaction %s failed: %s", update.update_id, describe(exc))

    async def _with_reply(
        self, message: Message, incoming: Incoming, target: ChatTarget, lang: str
    ) -> Incoming:
        """The replied-to message as quoted context in front of the user's words, its document
        or photo attached (:mod:`bots.telegram.replies`); commands other than /ask get none."""
        command = parse_command(incoming.text)
        if command is not None and command.name != "ask":
            return incoming
        context = reply_context(message, self._identity())
        if context is None or not self._assistant.access.allows(incoming):
            return incoming
        files = incoming.attachments
        ref = context.file
        if ref is not None and ref.too_large:
            await self._say(target, too_large_text(ref, lang))
        elif ref is not None:
            files = (*files, attachment(self._bot, ref))
        words = command.args if command is not None else incoming.text
        return replace(incoming, text=with_quote(words, context.quoted), attachments=files)

    async def _fresh_edit(self, message: Message, incoming: Incoming) -> bool:
        """Whether an edit gets a fresh answer: only an edit of a message the bot answered,
        and each edit once (its edit_date makes it a distinct event, across workers)."""
        message_id = str(message.message_id)
        if not await self._conversations.was_answered(incoming.key, message_id):
            log.info("telegram edit of unanswered message %s ignored", message_id)
            return False
        stamp = int(message.edit_date.timestamp()) if message.edit_date else 0
        event = f"edit:{message.chat.id}:{message_id}:{stamp}"
        return await self._conversations.claim_event("telegram", event)

    async def _attach(
        self, messages: list[Message], incoming: Incoming, target: ChatTarget, lang: str
    ) -> bool:
        """Say what cannot be used (too large, stickers, GIFs, videos); False when nothing is
        left to answer. The user's words are kept even then, set aside as unanswered."""
        if not self._assistant.access.allows(incoming):
            return True  # the core refuses, in its own words
        refs = [ref for m in messages if (ref := file_of(m)) is not None]
        unsupported = [key for m in messages if (key := unsupported_of(m)) is not None]
        for ref in refs:
            if ref.too_large:
                await self._say(target, too_large_text(ref, lang))
        for key in dict.fromkeys(unsupported):
            await self._say(target, unsupported_text(key, lang))
        if any(not ref.too_large for ref in refs) or not (unsupported or refs):
            return True
        if incoming.text.strip():
            await self._assistant.remember(incoming, answered=False)
        return False

    def _drafts_refused(self, chat_id: int, everywhere: bool) -> None:
        if everywhere:
            self._drafts_everywhere = False
        else:
            self._no_drafts[chat_id] = True

    async def _say(self, target: ChatTarget, text: str) -> None:
        """A short standalone message; used when something failed, so it must not raise."""
        try:
            await MessageWriter(self._bot, self._guard, target).send(
                Body(text, markdown=False), final=True, reply=True
            )
        except TelegramError as exc:
            log.error("could not tell chat %s about a problem: %s", target.chat_id, describe(exc))
