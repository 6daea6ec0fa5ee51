"""Bot API method handlers: validate like Telegram, change state, return the result object."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import ApiError
from .flood import FloodControl
from .formatting import MAX_CAPTION_LENGTH, render_text
from .models import Chat, SentMessage, StoredFile
from .objects import chat_full_info, member_dict, message_dict, now
from .params import Upload, require
from .state import MAX_DOWNLOAD_SIZE, TelegramState, scope_key
from .updates import UpdateHub

Handler = Callable[[dict[str, Any], dict[str, Upload]], Awaitable[Any]]

MAX_UPLOAD_SIZE = 50 * 1024 * 1024
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
COMMAND_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


def _inline_markup(markup: Any) -> dict[str, Any] | None:
    """Only inline keyboards are echoed back in Message.reply_markup."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    return markup if "inline_keyboard" in markup else None


class BotApi:
    """The implemented Bot API methods, looked up case-insensitively like Telegram does."""

    def __init__(
        self,
        state: TelegramState,
        hub: UpdateHub,
        flood: FloodControl,
        *,
        privacy_mode: bool = True,
    ) -> None:
        self.state = state
        self.privacy_mode = privacy_mode
        self.hub = hub
        self.flood = flood
        self.handlers: dict[str, tuple[str, Handler]] = {}
        for name in (
            "getMe",
            "logOut",
            "close",
            "getUpdates",
            "setWebhook",
            "deleteWebhook",
            "getWebhookInfo",
            "sendMessage",
            "editMessageText",
            "editMessageReplyMarkup",
            "deleteMessage",
            "deleteMessages",
            "sendChatAction",
            "sendMessageDraft",
            "sendDocument",
            "sendPhoto",
            "getFile",
            "setMyCommands",
            "getMyCommands",
            "deleteMyCommands",
            "getChat",
            "getChatMember",
            "getChatAdministrators",
            "getChatMemberCount",
            "answerCallbackQuery",
        ):
            self.handlers[name.lower()] = (name, getattr(self, name))

    def find(self, method: str) -> tuple[str, Handler] | None:
        return self.handlers.get(method.lower())

    # -- helpers ---------------------------------------------------------------------------
    def _target(self, params: dict[str, Any]) -> Chat:
        chat = self.state.chat(params.get("chat_id"))
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _thread(self, chat: Chat, params: dict[str, Any]) -> int | None:
        thread_id = params.get("message_thread_id")
        if chat.is_forum and thread_id and thread_id != 1 and thread_id not in chat.topics:
            raise ApiError(400, "Bad Request: message thread not found")
        return thread_id or None

    def _reply_target(self, chat: Chat, params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters") or {}
        if not isinstance(reply, dict):
            raise ApiError(400, "Bad Request: can't parse reply parameters JSON object")
        message_id = reply.get("message_id") or params.get("reply_to_message_id")
        if not message_id:
            return None
        allow = bool(
            reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply"))
        )
        target_chat = chat
        if reply.get("chat_id") not in (None, chat.id):
            target_chat = self.state.chat(reply["chat_id"])
        original = target_chat.messages.get(int(message_id))
        if original is None and not allow:
            raise ApiError(400, "Bad Request: message to be replied not found")
        return original

    def _sent(self, chat: Chat, message_id: int) -> SentMessage | None:
        return self.state.sent_index.get((chat.id, message_id))

    def _store_bot_message(
        self,
        chat: Chat,
        *,
        text: str | None,
        entities: list[dict[str, Any]],
        thread_id: int | None,
        reply_to: dict[str, Any] | None,
        params: dict[str, Any],
        extra: dict[str, Any] | None = None,
        kind: str = "text",
    ) -> tuple[dict[str, Any], SentMessage]:
        markup = _inline_markup(params.get("reply_markup"))
        extra = dict(extra or {})
        if markup is not None:
            extra["reply_markup"] = markup
        preview = params.get("link_preview_options")
        if text is not None and isinstance(preview, dict):
            extra["link_preview_options"] = preview
        message_id = chat.allocate_message_id()
        message = message_dict(
            chat,
            message_id,
            self.state.bot_user,
            text=text,
            entities=entities,
            thread_id=thread_id,
            reply_to=reply_to,
            extra=extra,
        )
        chat.messages[message_id] = message
        sent = SentMessage(
            chat_id=chat.id,
            message_id=message_id,
            text=text,
            parse_mode=params.get("parse_mode"),
            entities=entities,
            source_text=params.get("text"),
            reply_to_message_id=reply_to["message_id"] if reply_to else None,
            thread_id=thread_id,
            date=message["date"],
            reply_markup=markup,
            disable_notification=bool(params.get("disable_notification")),
            link_preview_options=preview if isinstance(preview, dict) else None,
            kind=kind,
        )
        self.state.record_sent(sent)
        return message, sent

    # -- bot and updates -------------------------------------------------------------------
    async def getMe(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return {
            **self.state.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def logOut(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return True

    async def close(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return True

    async def getUpdates(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        allowed = params.get("allowed_updates")
        if allowed is not None and not isinstance(allowed, list):
            raise ApiError(400, "Bad Request: can't parse allowed updates JSON object")
        return await self.hub.get_updates(
            offset=params.get("offset"),
            limit=params.get("limit") or 100,
            wait=float(params.get("timeout") or 0),
            allowed_updates=allowed,
        )

    async def setWebhook(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        url = str(params.get("url") or "")
        drop = bool(params.get("drop_pending_updates"))
        if not url:
            self.hub.delete_webhook(drop_pending_updates=drop)
            return True
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: Wrong HTTP URL specified")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if allowed is not None and not isinstance(allowed, list):
            raise ApiError(400, "Bad Request: can't parse allowed updates JSON object")
        self.hub.set_webhook(
            url,
            secret_token=str(secret) if secret else None,
            max_connections=int(params.get("max_connections") or 40),
            allowed_updates=allowed,
            drop_pending_updates=drop,
        )
        return True

    async def deleteWebhook(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        self.hub.delete_webhook(drop_pending_updates=bool(params.get("drop_pending_updates")))
        return True

    async def getWebhookInfo(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return self.hub.webhook_info()

    # -- messages --------------------------------------------------------------------------
    async def sendMessage(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._target(params)
        text, entities = render_text(
            params.get("text"), params.get("parse_mode"), params.get("entities")
        )
        thread_id = self._thread(chat, params)
        reply_to = self._reply_target(chat, params)
        _inline_markup(params.get("reply_markup"))
        self.flood.check_message("sendMessage", chat.id, group=chat.is_group)
        message, _ = self._store_bot_message(
            chat,
            text=text,
            entities=entities,
            thread_id=thread_id,
            reply_to=reply_to,
            params=params,
        )
        return message

    def _editable(self, params: dict[str, Any]) -> tuple[Chat, SentMessage, dict[str, Any]]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not emulated")
        chat = self._target(params)
        message_id = require(
            params, "message_id", "Bad Request: message identifier is not specified"
        )
        message = chat.messages.get(message_id)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        sent = self._sent(chat, message_id)
        if sent is None:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, sent, message

    async def editMessageText(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat, sent, message = self._editable(params)
        if sent.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities = render_text(
            params.get("text"), params.get("parse_mode"), params.get("entities")
        )
        markup = _inline_markup(params.get("reply_markup"))
        if text == sent.text and entities == sent.entities and markup == sent.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        self.flood.check_message("editMessageText", chat.id, group=chat.is_group)
        sent.text = text
        sent.entities = entities
        sent.parse_mode = params.get("parse_mode")
        sent.source_text = params.get("text")
        sent.reply_markup = markup
        sent.edits.append(text)
        sent.edit_date = now()
        message["text"] = text
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = sent.edit_date
        return message

    async def editMessageReplyMarkup(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        chat, sent, message = self._editable(params)
        markup = _inline_markup(params.get("reply_markup"))
        if markup == sent.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        self.flood.check_message("editMessageReplyMarkup", chat.id, group=chat.is_group)
        sent.reply_markup = markup
        sent.edit_date = now()
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = sent.edit_date
        return message

    def _delete(self, chat: Chat, message_id: int) -> bool:
        message = chat.messages.get(message_id)
        if message is None:
            return False
        from_id = message.get("from", {}).get("id")
        if chat.is_group and from_id != self.state.bot_id and not self.state.bot_is_admin(chat):
            raise ApiError(400, "Bad Request: message can't be deleted")
        del chat.messages[message_id]
        sent = self._sent(chat, message_id)
        if sent is not None:
            sent.deleted = True
        return True

    async def deleteMessage(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._target(params)
        message_id = require(
            params, "message_id", "Bad Request: message identifier is not specified"
        )
        if not self._delete(chat, message_id):
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def deleteMessages(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._target(params)
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise ApiError(400, "Bad Request: message identifiers are not specified")
        for message_id in ids:
            self._delete(chat, int(message_id))
        return True

    async def sendChatAction(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._target(params)
        action = params.get("action")
        if action not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self.state.chat_actions.append((chat.id, str(action), self._thread(chat, params)))
        return True

    async def sendMessageDraft(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self._target(params)
        if chat.type != "private":
            raise ApiError(400, "Bad Request: TEXTDRAFT_PEER_INVALID")
        draft_id = require(params, "draft_id", "Bad Request: draft_id is empty")
        if draft_id == 0:
            raise ApiError(400, "Bad Request: draft_id must be non-zero")
        text, _ = render_text(
            params.get("text"), params.get("parse_mode"), params.get("entities"), allow_empty=True
        )
        self.flood.check_draft(chat.id)
        self.state.drafts.setdefault(chat.id, []).append((draft_id, text))
        return True

    # -- files -----------------------------------------------------------------------------
    def _input_file(
        self, field: str, params: dict[str, Any], uploads: dict[str, Upload], kind: str
    ) -> StoredFile:
        upload = uploads.get(field)
        value = params.get(field)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value[len("attach://") :])
        if upload is not None:
            if len(upload.data) > MAX_UPLOAD_SIZE:
                raise ApiError(413, "Request Entity Too Large")
            return self.state.add_file(
                upload.data, kind, file_name=upload.filename, mime_type=upload.content_type
            )
        if isinstance(value, str) and value in self.state.files:
            return self.state.files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: failed to get HTTP URL content")
        if value:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        raise ApiError(400, f"Bad Request: there is no {field} in the request")

    async def _send_media(
        self, method: str, kind: str, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        chat = self._target(params)
        stored = self._input_file(kind, params, uploads, kind)
        caption, caption_entities = render_text(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            limit=MAX_CAPTION_LENGTH,
            allow_empty=True,
            too_long_error="Bad Request: message caption is too long",
        )
        thread_id = self._thread(chat, params)
        reply_to = self._reply_target(chat, params)
        self.flood.check_message(method, chat.id, group=chat.is_group)
        extra: dict[str, Any] = {}
        if kind == "photo":
            extra["photo"] = [
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": stored.file_size,
                    "width": 1280,
                    "height": 720,
                }
            ]
        else:
            document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
            if stored.file_name:
                document["file_name"] = stored.file_name
            if stored.mime_type:
                document["mime_type"] = stored.mime_type
            extra["document"] = {**document, "file_size": stored.file_size}
        if caption:
            extra["caption"] = caption
            if caption_entities:
                extra["caption_entities"] = caption_entities
        message, sent = self._store_bot_message(
            chat,
            text=None,
            entities=[],
            thread_id=thread_id,
            reply_to=reply_to,
            params=params,
            extra=extra,
            kind=kind,
        )
        sent.caption = caption or None
        sent.file_id = stored.file_id
        sent.file_name = stored.file_name
        sent.data = stored.data
        return message

    async def sendDocument(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return await self._send_media("sendDocument", "document", params, uploads)

    async def sendPhoto(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return await self._send_media("sendPhoto", "photo", params, uploads)

    async def getFile(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        file_id = require(params, "file_id", "Bad Request: file_id is empty")
        stored = self.state.files.get(str(file_id))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_SIZE:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": self.state.assign_file_path(stored),
        }

    # -- commands --------------------------------------------------------------------------
    def _command_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope")
        key = scope_key(scope)
        if scope and scope.get("type") not in COMMAND_SCOPES:
            raise ApiError(400, "Bad Request: unsupported bot command scope type")
        return key, str(params.get("language_code") or "")

    async def setMyCommands(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        cleaned = []
        for command in commands:
            if not isinstance(command, dict):
                raise ApiError(400, "Bad Request: can't parse BotCommand JSON object")
            name = str(command.get("command", "")).lstrip("/")
            description = str(command.get("description", ""))
            if not _COMMAND_NAME.fullmatch(name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        self.state.commands[self._command_key(params)] = cleaned
        return True

    async def getMyCommands(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return list(self.state.commands.get(self._command_key(params), []))

    async def deleteMyCommands(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        self.state.commands.pop(self._command_key(params), None)
        return True

    # -- chats and members -----------------------------------------------------------------
    async def getChat(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        return chat_full_info(self.state.chat(params.get("chat_id")))

    def _status(self, chat: Chat, user_id: int) -> str:
        state = self.state
        if chat.type == "private":
            return "member" if user_id in (chat.id, state.bot_id) else "left"
        if user_id == chat.owner_id:
            return "creator"
        if user_id in chat.admins:
            return "administrator"
        if user_id in chat.members or user_id == state.bot_id:
            return "member"
        return "left"

    async def getChatMember(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self.state.chat(params.get("chat_id"))
        user_id = require(params, "user_id", "Bad Request: user_id is empty")
        user = self.state.users.get(user_id)
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        return member_dict(user, self._status(chat, user_id))

    async def getChatAdministrators(
        self, params: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        chat = self.state.chat(params.get("chat_id"))
        if chat.type == "private":
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        ids = ([chat.owner_id] if chat.owner_id is not None else []) + [
            uid for uid in chat.admins if uid != chat.owner_id
        ]
        result = []
        for user_id in ids:
            user = self.state.users.get(user_id) or {
                "id": user_id,
                "is_bot": False,
                "first_name": f"User {user_id}",
            }
            result.append(member_dict(user, self._status(chat, user_id)))
        return result

    async def getChatMemberCount(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        chat = self.state.chat(params.get("chat_id"))
        if chat.type == "private":
            return 2
        return len(chat.members | set(chat.admins) | {self.state.bot_id})

    async def answerCallbackQuery(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        require(
            params,
            "callback_query_id",
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        )
        return True
