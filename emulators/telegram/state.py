"""The emulator's world: the bot, chats, users, sent messages, files, commands and records."""

from __future__ import annotations

import json
import mimetypes
import secrets
from typing import Any

from .errors import ApiError
from .models import ApiCall, ApiFailure, Chat, Fault, SentMessage, StoredFile
from .objects import user_dict

MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
_FILE_ID_PREFIX = {"document": "BQACAgIAAxkBAA", "photo": "AgACAgIAAxkBAA"}
_FILE_FOLDER = {"document": "documents", "photo": "photos"}


def bot_id_from_token(token: str) -> int:
    """Telegram bot tokens are '<bot id>:<secret>'; the id is also the bot's user id."""
    head, sep, tail = token.partition(":")
    if not sep or not head.isdigit() or not tail:
        raise ValueError(f"not a bot token: {token!r}")
    return int(head)


def scope_key(scope: Any) -> str:
    """Canonical key for a BotCommandScope (default scope when missing)."""
    if not scope:
        scope = {"type": "default"}
    if not isinstance(scope, dict) or "type" not in scope:
        raise ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
    normalized = dict(scope)
    for key in ("chat_id", "user_id"):
        if key in normalized:
            try:
                normalized[key] = int(normalized[key])
            except (TypeError, ValueError):
                normalized[key] = str(normalized[key])
    return json.dumps(normalized, sort_keys=True)


class TelegramState:
    """Everything the Bot API handlers and the test helpers read and change."""

    def __init__(self, token: str, bot_username: str, bot_first_name: str) -> None:
        self.token = token
        self.bot_id = bot_id_from_token(token)
        self.bot_username = bot_username.lstrip("@")
        self.bot_user = user_dict(
            self.bot_id, bot_first_name, username=self.bot_username, is_bot=True
        )
        self.chats: dict[int, Chat] = {}
        self.users: dict[int, dict[str, Any]] = {self.bot_id: self.bot_user}
        self.sent: list[SentMessage] = []
        self.sent_index: dict[tuple[int, int], SentMessage] = {}
        self.drafts: dict[int, list[tuple[int, str]]] = {}
        self.chat_actions: list[tuple[int, str, int | None]] = []
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.calls: list[ApiCall] = []
        self.failures: list[ApiFailure] = []
        self.faults: list[Fault] = []

    # -- chats and users -------------------------------------------------------------------
    def add_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        is_forum: bool = False,
        username: str | None = None,
        first_name: str | None = None,
    ) -> Chat:
        """Create or update a chat; the type defaults from the id's sign like Telegram's ids."""
        if chat_type is None:
            if chat_id > 0:
                chat_type = "private"
            else:
                chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = Chat(id=chat_id, type=chat_type)
        chat.type = chat_type
        chat.title = title if title is not None else chat.title
        chat.is_forum = is_forum
        chat.username = username if username is not None else chat.username
        chat.first_name = first_name if first_name is not None else chat.first_name
        return chat

    def ensure_chat(self, chat_id: int) -> Chat:
        return self.chats.get(chat_id) or self.add_chat(chat_id)

    def chat(self, chat_id: Any) -> Chat:
        """Resolve a chat_id parameter (number or @username) or fail like Telegram."""
        if isinstance(chat_id, int):
            chat = self.chats.get(chat_id)
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            chat = next(
                (c for c in self.chats.values() if (c.username or "").lower() == wanted), None
            )
        else:
            chat = None
        if chat is None:
            if chat_id in (None, ""):
                raise ApiError(400, "Bad Request: chat_id is empty")
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def remember_user(
        self,
        user_id: int,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        user = user_dict(
            user_id,
            first_name,
            username=username,
            last_name=last_name,
            language_code=language_code,
        )
        self.users[user_id] = user
        return user

    def bot_is_admin(self, chat: Chat) -> bool:
        return self.bot_id in chat.admins or chat.owner_id == self.bot_id

    # -- sent messages ---------------------------------------------------------------------
    def record_sent(self, sent: SentMessage) -> None:
        self.sent.append(sent)
        self.sent_index[(sent.chat_id, sent.message_id)] = sent

    # -- files -----------------------------------------------------------------------------
    def add_file(
        self,
        data: bytes,
        kind: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
    ) -> StoredFile:
        """Register bytes Telegram holds; ids look like real ones but are random."""
        prefix = _FILE_ID_PREFIX.get(kind, "CQACAgIAAxkBAA")
        stored = StoredFile(
            file_id=prefix + secrets.token_urlsafe(24),
            file_unique_id="AgAD" + secrets.token_urlsafe(9),
            data=bytes(data),
            file_size=len(data) if file_size is None else int(file_size),
            kind=kind,
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        return stored

    def assign_file_path(self, stored: StoredFile) -> str:
        """getFile's file_path: '<folder>/file_<n>.<ext>' like the real server."""
        if stored.file_path is None:
            ext = ""
            if stored.file_name and "." in stored.file_name:
                ext = "." + stored.file_name.rsplit(".", 1)[1]
            elif stored.mime_type:
                ext = mimetypes.guess_extension(stored.mime_type) or ""
            elif stored.kind == "photo":
                ext = ".jpg"
            folder = _FILE_FOLDER.get(stored.kind, stored.kind + "s")
            stored.file_path = f"{folder}/file_{len(self.files_by_path)}{ext}"
            self.files_by_path[stored.file_path] = stored
        return stored.file_path
