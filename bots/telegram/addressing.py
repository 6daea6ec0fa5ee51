"""Is a Telegram message for the bot, and what did the user say to it?

Private chats: always. Groups: a command (not one addressed to another bot), an @mention of the
bot found in the message entities (never a substring match: "@kimi_bot_fan" is not us), a
``text_mention`` of the bot, or a reply to one of the bot's messages. The mention itself is
removed from the text the model sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Message, MessageEntity
from telegram.constants import ChatType

from core.vocabulary import ConversationKey

GROUP_TYPES = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})


@dataclass(frozen=True, slots=True)
class BotIdentity:
    id: int
    username: str


@dataclass(frozen=True, slots=True)
class Addressing:
    addressed: bool
    text: str


def conversation_key(message: Message) -> ConversationKey:
    """One conversation per chat, and per topic in forum supergroups."""
    thread = ""
    if message.is_topic_message and message.message_thread_id:
        thread = str(message.message_thread_id)
    return ConversationKey(platform="telegram", chat=str(message.chat.id), thread=thread)


def topic_id(message: Message) -> int | None:
    """The forum topic to answer in (reply threads of ordinary supergroups are not topics)."""
    return message.message_thread_id if message.is_topic_message else None


def address(message: Message, bot: BotIdentity) -> Addressing:
    text = message.text if message.text is not None else (message.caption or "")
    if message.chat.type not in GROUP_TYPES:
        return Addressing(addressed=True, text=text.strip())
    entities = list(message.entities or message.caption_entities or ())
    command = _leading_command(text, entities)
    if command is not None:
        _, _, target = command.partition("@")
        if target and target.lower() != bot.username.lower():
            return Addressing(addressed=False, text=text)
        return Addressing(addressed=True, text=text.strip())
    mentions = [e for e in entities if _mentions_bot(text, e, bot)]
    if mentions:
        return Addressing(addressed=True, text=_strip_entities(text, mentions))
    if _replies_to_bot(message, bot):
        return Addressing(addressed=True, text=text.strip())
    return Addressing(addressed=False, text=text.strip())


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _entity_text(text: str, entity: MessageEntity) -> str:
    raw = _utf16(text)
    return raw[entity.offset * 2 : (entity.offset + entity.length) * 2].decode(
        "utf-16-le", errors="replace"
    )


def _leading_command(text: str, entities: list[MessageEntity]) -> str | None:
    for entity in entities:
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            return _entity_text(text, entity)
    return None


def _mentions_bot(text: str, entity: MessageEntity, bot: BotIdentity) -> bool:
    if entity.type == MessageEntity.MENTION:
        return _entity_text(text, entity).lower() == f"@{bot.username.lower()}"
    if entity.type == MessageEntity.TEXT_MENTION:
        return entity.user is not None and entity.user.id == bot.id
    return False


def _strip_entities(text: str, entities: list[MessageEntity]) -> str:
    """Remove the mentions (offsets are UTF-16) and tidy the spaces and punctuation left."""
    raw = _utf16(text)
    pieces: list[str] = []
    position = 0
    for entity in sorted(entities, key=lambda e: e.offset):
        start, end = entity.offset * 2, (entity.offset + entity.length) * 2
        pieces.append(raw[position:start].decode("utf-16-le", errors="replace"))
        position = end
    pieces.append(raw[position:].decode("utf-16-le", errors="replace"))
    joined = ""
    for piece in pieces:
        if not joined:
            joined = piece.lstrip(" ,:")
        elif not piece.strip():
            joined = joined.rstrip(" ") + piece.lstrip(" ")
        else:
            joined = joined.rstrip(" ") + " " + piece.lstrip(" ")
    return joined.strip().lstrip(",:").strip()


def _replies_to_bot(message: Message, bot: BotIdentity) -> bool:
    original = message.reply_to_message
    if original is None or original.from_user is None:
        return False
    if original.forum_topic_created is not None:  # topic messages "reply" to the topic's start
        return False
    return original.from_user.id == bot.id
