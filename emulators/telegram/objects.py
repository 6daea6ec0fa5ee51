"""Bot API JSON objects (User, Chat, Message, ChatMember) shaped so PTB's de_json parses them."""

from __future__ import annotations

import time
from typing import Any

from .models import Chat


def now() -> int:
    return int(time.time())


def user_dict(
    user_id: int,
    first_name: str,
    *,
    username: str | None = None,
    last_name: str | None = None,
    is_bot: bool = False,
    language_code: str | None = None,
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if last_name:
        user["last_name"] = last_name
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def forward_origin_dict(
    name: str, *, user_id: int | None = None, date: int | None = None
) -> dict[str, Any]:
    """MessageOrigin of a forward: a ``user`` with their account, or a ``hidden_user`` (no
    ``user_id``) who only lets their name through, as Telegram shows privacy-minded users."""
    when = date if date is not None else now()
    if user_id is None:
        return {"type": "hidden_user", "date": when, "sender_user_name": name}
    return {"type": "user", "date": when, "sender_user": user_dict(user_id, name)}


def chat_dict(chat: Chat) -> dict[str, Any]:
    """The short Chat object embedded in messages."""
    data: dict[str, Any] = {"id": chat.id, "type": chat.type}
    if chat.type == "private":
        data["first_name"] = chat.first_name or "User"
        if chat.last_name:
            data["last_name"] = chat.last_name
    else:
        data["title"] = chat.title or f"Chat {chat.id}"
    if chat.username:
        data["username"] = chat.username
    if chat.is_forum:
        data["is_forum"] = True
    return data


def chat_full_info(chat: Chat) -> dict[str, Any]:
    """getChat's ChatFullInfo (PTB requires accent_color_id and max_reaction_count)."""
    return {**chat_dict(chat), "accent_color_id": 0, "max_reaction_count": 11}


def strip_reply(message: dict[str, Any]) -> dict[str, Any]:
    """A message as it appears in reply_to_message: without its own reply_to_message."""
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def message_dict(
    chat: Chat,
    message_id: int,
    sender: dict[str, Any],
    *,
    text: str | None = None,
    entities: list[dict[str, Any]] | None = None,
    thread_id: int | None = None,
    reply_to: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Message; in forum topics it carries message_thread_id/is_topic_message as Telegram does."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": now(),
        "chat": chat_dict(chat),
        "from": sender,
    }
    if chat.is_forum and thread_id:
        message["message_thread_id"] = thread_id
        message["is_topic_message"] = True
        if reply_to is None and thread_id in chat.topics:
            reply_to = chat.topics[thread_id]
    if reply_to is not None:
        message["reply_to_message"] = strip_reply(reply_to)
    if text is not None:
        message["text"] = text
        if entities:
            message["entities"] = entities
    if extra:
        message.update(extra)
    return message


_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
}


def member_dict(user: dict[str, Any], status: str) -> dict[str, Any]:
    """ChatMember in the variant PTB expects for ``status`` (all required flags present)."""
    if status == "creator":
        return {"status": "creator", "user": user, "is_anonymous": False}
    if status == "administrator":
        return {"status": "administrator", "user": user, **_ADMIN_RIGHTS}
    return {"status": status, "user": user}
