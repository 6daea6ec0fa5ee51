"""What users do: messages, commands, files, edits and button presses become updates.

Messages carry the entities Telegram's server would add (commands, mentions, URLs), and in
groups privacy mode decides whether the bot gets the update at all: only commands, mentions of
the bot and replies to it pass, unless the bot is an admin or privacy mode is off.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from .formatting import detect_entities, sort_entities, utf16_len, utf16_slice
from .models import Chat, StoredFile
from .objects import chat_dict, message_dict, now
from .state import TelegramState
from .updates import UpdateHub

_THUMBNAIL_PREFIX = b"emulator-thumbnail:"


class IncomingUpdates:
    """Builds user-side updates and routes them to the bot (queue or webhook)."""

    def __init__(self, state: TelegramState, hub: UpdateHub, *, privacy_mode: bool) -> None:
        self.state = state
        self.hub = hub
        self.privacy_mode = privacy_mode
        self.hidden: list[dict[str, Any]] = []
        self._reactions: dict[tuple[int, int, int], list[str]] = {}  # each user's, per message

    # -- plumbing --------------------------------------------------------------------------
    def _sender(
        self,
        chat: Chat,
        user_id: int,
        first_name: str,
        username: str | None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        user = self.state.remember_user(
            user_id, first_name, username=username, last_name=last_name, language_code="en"
        )
        chat.members.add(user_id)
        if chat.type == "private" and chat.first_name is None:
            chat.first_name = first_name
            chat.last_name = last_name
            chat.username = chat.username or username
        return user

    def _topic(self, chat: Chat, thread_id: int | None, sender: dict[str, Any]) -> None:
        """Forum topics are rooted in a forum_topic_created service message."""
        if not chat.is_forum or not thread_id or thread_id in chat.topics or thread_id == 1:
            return
        self.create_topic(chat, f"Topic {thread_id}", sender, thread_id=thread_id)

    def create_topic(
        self,
        chat: Chat,
        name: str,
        sender: dict[str, Any],
        *,
        thread_id: int | None = None,
    ) -> int:
        if thread_id is None:
            thread_id = chat.allocate_message_id()
        chat.next_message_id = max(chat.next_message_id, thread_id + 1)
        service = {
            "message_id": thread_id,
            "date": now(),
            "chat": chat_dict(chat),
            "from": sender,
            "message_thread_id": thread_id,
            "is_topic_message": True,
            "forum_topic_created": {"name": name, "icon_color": 7322096},
        }
        chat.topics[thread_id] = service
        chat.messages[thread_id] = service
        return thread_id

    def _reply(self, chat: Chat, reply_to_message_id: int | None) -> dict[str, Any] | None:
        if reply_to_message_id is None:
            return None
        original = chat.messages.get(reply_to_message_id)
        if original is None:
            raise ValueError(f"chat {chat.id} has no message {reply_to_message_id} to reply to")
        return original

    def _visible_to_bot(self, chat: Chat, message: dict[str, Any]) -> bool:
        if not chat.is_group or not self.privacy_mode or self.state.bot_is_admin(chat):
            return True
        bot = self.state.bot_username.lower()
        reply = message.get("reply_to_message")
        if reply and reply.get("from", {}).get("id") == self.state.bot_id:
            return True
        text = message.get("text") or message.get("caption") or ""
        for entity in message.get("entities") or message.get("caption_entities") or []:
            value = utf16_slice(text, entity["offset"], entity["length"]).lower()
            if entity["type"] == "bot_command" and ("@" not in value or value.endswith("@" + bot)):
                return True
            if entity["type"] == "mention" and value == "@" + bot:
                return True
            if entity["type"] == "text_mention" and entity["user"]["id"] == self.state.bot_id:
                return True
        return False

    def deliver(self, chat: Chat, update: dict[str, Any]) -> dict[str, Any]:
        message = update.get("message") or update.get("edited_message")
        if message is not None and not self._visible_to_bot(chat, message):
            self.hidden.append(update)
            return update
        self.hub.push(copy.deepcopy(update))
        return update

    def _entities(
        self, text: str, entities: list[dict[str, Any]] | None, mention_bot: bool
    ) -> tuple[str, list[dict[str, Any]]]:
        if mention_bot:
            prefix = f"@{self.state.bot_username} "
            shift = utf16_len(prefix)
            text = prefix + text
            if entities is not None:
                mention = {"type": "mention", "offset": 0, "length": shift - 1}
                moved = [{**e, "offset": e["offset"] + shift} for e in entities]
                entities = [mention, *moved]
        if entities is None:
            return text, detect_entities(text)
        return text, sort_entities([dict(e) for e in entities])

    # -- actions ---------------------------------------------------------------------------
    def message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None,
        *,
        first_name: str = "Alice",
        username: str | None = None,
        last_name: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        mention_bot: bool = False,
        extra: dict[str, Any] | None = None,
        caption: str | None = None,
        quote: str | None = None,
        forward_origin: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        chat = self.state.ensure_chat(chat_id)
        sender = self._sender(chat, user_id, first_name, username, last_name)
        self._topic(chat, message_thread_id, sender)
        reply_to = self._reply(chat, reply_to_message_id)
        fields = dict(extra or {})
        if quote is not None:
            fields["quote"] = _text_quote(reply_to, quote)
        if forward_origin is not None:
            fields["forward_origin"] = forward_origin
        body_text: str | None = None
        body_entities: list[dict[str, Any]] = []
        if text is not None:
            body_text, body_entities = self._entities(text, entities, mention_bot)
        elif caption is not None or mention_bot:
            caption_text, caption_entities = self._entities(caption or "", entities, mention_bot)
            fields["caption"] = caption_text
            if caption_entities:
                fields["caption_entities"] = caption_entities
        message_id = chat.allocate_message_id()
        message = message_dict(
            chat,
            message_id,
            sender,
            text=body_text,
            entities=body_entities,
            thread_id=message_thread_id,
            reply_to=reply_to,
            extra=fields,
        )
        chat.messages[message_id] = message
        return self.deliver(chat, {"update_id": self.hub.new_update_id(), "message": message})

    def command(
        self,
        chat_id: int,
        user_id: int,
        command: str,
        args: str = "",
        *,
        to_bot: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        name = "/" + command.lstrip("/")
        if to_bot:
            name += "@" + self.state.bot_username
        text = f"{name} {args}" if args else name
        entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(name)}]
        return self.message(chat_id, user_id, text, entities=entities, **kwargs)

    def document(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        *,
        file_size: int | None = None,
        media_group_id: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        stored = self.state.add_file(
            data, "document", file_name=file_name, mime_type=mime_type, file_size=file_size
        )
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": stored.file_size,
        }
        extra = _grouped({"document": document}, media_group_id)
        return self.message(chat_id, user_id, None, caption=caption, extra=extra, **kwargs)

    def photo(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        caption: str | None = None,
        *,
        width: int = 1280,
        height: int = 960,
        file_size: int | None = None,
        media_group_id: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A photo arrives as several sizes, smallest first; only the last one is ``data``.
        A photo no larger than the 90 px thumbnail has only its own size (never upscaled)."""
        full = self.state.add_file(data, "photo", file_size=file_size)
        sizes = [_photo_size(full, width, height)]
        if max(width, height) > 90:
            thumb = self.state.add_file(_THUMBNAIL_PREFIX + data[:64], "photo")
            scale = 90 / max(width, height)
            thumb_size = max(1, round(width * scale)), max(1, round(height * scale))
            sizes.insert(0, _photo_size(thumb, *thumb_size))
        extra = _grouped({"photo": sizes}, media_group_id)
        return self.message(chat_id, user_id, None, caption=caption, extra=extra, **kwargs)

    def media(
        self,
        chat_id: int,
        user_id: int,
        field: str,
        data: bytes,
        caption: str | None = None,
        *,
        attributes: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A voice note, audio file, video note, video, sticker or animation: the message field
        ``field`` holds the file's ids and size plus ``attributes`` (duration, mime_type...).
        An animation also fills ``document``, as Telegram does for older clients."""
        fields = dict(attributes or {})
        stored = self.state.add_file(
            data,
            field,
            file_name=fields.get("file_name"),
            mime_type=fields.get("mime_type"),
        )
        body = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            **fields,
        }
        extra: dict[str, Any] = {field: body}
        if field == "animation":
            extra["document"] = {
                key: body[key]
                for key in ("file_id", "file_unique_id", "file_size", "file_name", "mime_type")
                if key in body
            }
        return self.message(chat_id, user_id, None, caption=caption, extra=extra, **kwargs)

    def edit(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        """The user edits an earlier message's text or caption: an ``edited_message`` update
        (with ``edit_date``; entities detected again, as Telegram's server does)."""
        chat = self.state.chat(chat_id)
        message = chat.messages.get(message_id)
        field = "text" if message is not None and "text" in message else "caption"
        if message is None or field not in message:
            raise ValueError(f"chat {chat_id} has no text or caption message {message_id}")
        entities_field = "entities" if field == "text" else "caption_entities"
        message[field] = text
        message.pop(entities_field, None)
        found = detect_entities(text)
        if found:
            message[entities_field] = found
        message["edit_date"] = now()
        edited = copy.deepcopy(message)
        return self.deliver(chat, {"update_id": self.hub.new_update_id(), "edited_message": edited})

    def callback(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        *,
        first_name: str = "Alice",
        username: str | None = None,
    ) -> dict[str, Any]:
        """A press on an inline button of a bot message: a ``callback_query`` update."""
        chat = self.state.chat(chat_id)
        message = chat.messages.get(message_id)
        if message is None:
            raise ValueError(f"chat {chat_id} has no message {message_id}")
        sender = self._sender(chat, user_id, first_name, username)
        query = {
            "id": str(secrets.randbits(63)),
            "from": sender,
            "message": copy.deepcopy(message),
            "chat_instance": str(abs(hash((chat_id, self.state.bot_id)))),
            "data": data,
        }
        update = {"update_id": self.hub.new_update_id(), "callback_query": query}
        self.hub.push(copy.deepcopy(update))
        return update

    def reaction(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        emoji: list[str],
        *,
        first_name: str = "Alice",
        username: str | None = None,
    ) -> dict[str, Any]:
        """A user sets their reactions on a message (``[]`` takes them back): a
        ``message_reaction`` update with the old and the new reactions. Telegram sends it only
        to bots that list ``message_reaction`` in ``allowed_updates``."""
        chat = self.state.chat(chat_id)
        if message_id not in chat.messages:
            raise ValueError(f"chat {chat_id} has no message {message_id}")
        sender = self._sender(chat, user_id, first_name, username)
        old = self._reactions.get((chat_id, message_id, user_id), [])
        self._reactions[(chat_id, message_id, user_id)] = list(emoji)
        update = {
            "update_id": self.hub.new_update_id(),
            "message_reaction": {
                "chat": chat_dict(chat),
                "message_id": message_id,
                "user": sender,
                "date": now(),
                "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
                "new_reaction": [{"type": "emoji", "emoji": e} for e in emoji],
            },
        }
        self.hub.push(copy.deepcopy(update))
        return update

    def again(self, update: dict[str, Any]) -> dict[str, Any]:
        """Deliver an update a second time with the same update_id (duplicate delivery)."""
        self.hub.push(copy.deepcopy(update), forced=True)
        return update


def _text_quote(reply_to: dict[str, Any] | None, quote: str) -> dict[str, Any]:
    """Telegram's TextQuote: the part of the replied-to message the user selected; it must be
    found in that message's text or caption (Telegram refuses the reply otherwise)."""
    if reply_to is None:
        raise ValueError("a quote needs reply_to_message_id")
    original = reply_to.get("text") or reply_to.get("caption") or ""
    index = original.find(quote)
    if not quote or index < 0:
        raise ValueError(f"QUOTE_TEXT_INVALID: {quote!r} is not in the replied-to message")
    return {"text": quote, "position": utf16_len(original[:index]), "is_manual": True}


def _grouped(extra: dict[str, Any], media_group_id: str | None) -> dict[str, Any]:
    """Items of an album share a media_group_id (Telegram sends each as its own message)."""
    if media_group_id is not None:
        extra["media_group_id"] = media_group_id
    return extra


def _photo_size(stored: StoredFile, width: int, height: int) -> dict[str, Any]:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.file_size,
        "width": width,
        "height": height,
    }
