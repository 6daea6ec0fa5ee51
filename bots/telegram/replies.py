"""The message an addressed message replies to, as quoted context of the turn.

"@bot is this right?" as a reply to Bob's message is a question about Bob's message, so the
turn carries it (:mod:`core.quoting`): its text or caption with its author, narrowed to the part
the user selected when Telegram sends a ``quote``, under its original author's name when it is a
forward (``forward_origin``). Its document or photo becomes an attachment of the turn (documents
go to the conversation's library, photos through the image path); other media are only named.

Left out: the bot's own messages (already in the history: quoting them would say it twice) and
a forum topic's creation message (every message in a topic "replies" to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import (
    Message,
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
)

from bots.telegram.addressing import BotIdentity
from bots.telegram.attachments import FileRef, file_of
from core.quoting import Quoted


@dataclass(frozen=True, slots=True)
class ReplyContext:
    quoted: Quoted
    file: FileRef | None  # the replied-to document or photo, to attach to the turn


def reply_context(message: Message, bot: BotIdentity) -> ReplyContext | None:
    """The replied-to message as context, or None when there is none worth adding."""
    original = message.reply_to_message
    if original is None or original.forum_topic_created is not None:
        return None
    if _is_bot(original, bot):
        return None
    text = original.text if original.text is not None else (original.caption or "")
    partial = False
    if message.quote is not None and message.quote.text:
        partial = message.quote.text.strip() != text.strip()
        text = message.quote.text
    ref = file_of(original) if (original.document or original.photo) else None
    author, forwarded_by = _authors(original)
    return ReplyContext(
        Quoted(
            author=author,
            text=text,
            forwarded_by=forwarded_by,
            partial=partial,
            media=_media(original, ref),
        ),
        ref,
    )


def _is_bot(original: Message, bot: BotIdentity) -> bool:
    sender = original.from_user
    return sender is not None and sender.id == bot.id and original.sender_chat is None


def _authors(original: Message) -> tuple[str, str]:
    """(who wrote it, who forwarded it here or "")."""
    here = _sender_name(original)
    if original.forward_origin is None:
        return here, ""
    return _origin_name(original.forward_origin) or here, here


def _sender_name(message: Message) -> str:
    if message.sender_chat is not None:  # an anonymous admin or a channel speaks as the chat
        return message.author_signature or message.sender_chat.title or ""
    return message.from_user.full_name if message.from_user else ""


def _origin_name(origin: MessageOrigin) -> str:
    if isinstance(origin, MessageOriginUser):
        return origin.sender_user.full_name
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name
    if isinstance(origin, MessageOriginChat):
        return origin.author_signature or origin.sender_chat.title or ""
    if isinstance(origin, MessageOriginChannel):
        title = origin.chat.title or ""
        return f"{origin.author_signature} ({title})" if origin.author_signature else title
    return ""


def _media(original: Message, ref: FileRef | None) -> str:
    """What the replied-to message carries besides words, for the model to know."""
    if ref is not None and original.document is not None:
        return f"the document “{ref.name}”"
    if ref is not None:
        return "a photo"
    for present, name in (
        (original.voice, "a voice message (not included)"),
        (original.audio, "an audio file (not included)"),
        (original.video_note, "a video message (not included)"),
        (original.video, "a video (not included)"),
        (original.animation, "a GIF (not included)"),
        (original.sticker, "a sticker"),
    ):
        if present is not None:
            return name
    return ""
