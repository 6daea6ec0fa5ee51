"""TelegramEmulator: a local Bot API server plus the hands of the users talking to the bot.

Tests point the real python-telegram-bot at it::

    emu = TelegramEmulator(token="123:ABC", bot_username="kimi_test_bot")
    await emu.start()
    app = ApplicationBuilder().token("123:ABC").base_url(f"{emu.url}/bot") \
        .base_file_url(f"{emu.url}/file/bot").build()
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .flood import FloodControl, FloodLimits
from .incoming import IncomingUpdates
from .methods import BotApi
from .models import ApiCall, ApiFailure, Chat, Fault, SentMessage, StoredFile
from .objects import forward_origin_dict
from .server import BotApiServer
from .state import TelegramState, scope_key
from .updates import UpdateHub, WebhookAttempt

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected error",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class TelegramEmulator:
    """A fake Telegram Bot API server with test helpers (see the module docstring)."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "kimi_test_bot",
        *,
        bot_first_name: str = "Kimi",
        enforce_flood_control: bool = True,
        privacy_mode: bool = True,
        chat_per_second: float = 1.0,
        chat_burst: int = 3,
        group_per_minute: int = 20,
        global_per_second: int = 30,
        draft_interval: float = 0.3,
        draft_burst: int = 3,
        webhook_retry_delays: tuple[float, ...] = (0.05, 0.2, 0.5, 1.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = TelegramState(token, bot_username, bot_first_name)
        self.hub = UpdateHub(webhook_retry_delays=webhook_retry_delays)
        self.flood = FloodControl(
            FloodLimits(
                chat_per_second=chat_per_second,
                chat_burst=chat_burst,
                group_per_minute=group_per_minute,
                global_per_second=global_per_second,
                draft_interval=draft_interval,
                draft_burst=draft_burst,
            ),
            enabled=enforce_flood_control,
            clock=clock,
        )
        self.api = BotApi(self.state, self.hub, self.flood, privacy_mode=privacy_mode)
        self.incoming = IncomingUpdates(self.state, self.hub, privacy_mode=privacy_mode)
        self._server = BotApiServer(self.state, self.api)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = any free port); returns and sets ``url``."""
        self._runner = web.AppRunner(self._server.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        """End long polls and webhook delivery, then close the server."""
        await self.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- identity --------------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self.state.token

    @property
    def bot_id(self) -> int:
        return self.state.bot_id

    @property
    def bot_username(self) -> str:
        return self.state.bot_username

    # -- world setup -----------------------------------------------------------------------
    def add_chat(
        self,
        chat_id: int,
        type: str = "private",
        title: str | None = None,
        is_forum: bool = False,
        *,
        username: str | None = None,
        first_name: str | None = None,
    ) -> Chat:
        """Register a chat the bot is in (chats are also created by the first user message)."""
        return self.state.add_chat(
            chat_id, type, title=title, is_forum=is_forum, username=username, first_name=first_name
        )

    def set_admins(self, chat_id: int, user_ids: list[int], *, owner_id: int | None = None) -> None:
        """Group administrators (include ``bot_id`` to make the bot an admin)."""
        chat = self.state.ensure_chat(chat_id)
        chat.admins = list(user_ids)
        if owner_id is not None:
            chat.owner_id = owner_id
        for user_id in [*user_ids, *([owner_id] if owner_id is not None else [])]:
            chat.members.add(user_id)
            self.state.users.setdefault(
                user_id, {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
            )

    def add_topic(self, chat_id: int, name: str, *, creator_id: int | None = None) -> int:
        """Create a forum topic; returns its message_thread_id.

        The creator defaults to the chat owner or first admin, never the bot: topic messages
        reply to the creation message, and a bot-created topic would look like replies to it.
        """
        chat = self.state.ensure_chat(chat_id)
        if creator_id is None:
            creator_id = chat.owner_id or (chat.admins[0] if chat.admins else None)
        creator = self.state.users.get(creator_id or 0) or {
            "id": creator_id or 1,
            "is_bot": False,
            "first_name": "Admin",
        }
        return self.incoming.create_topic(chat, name, creator)

    def block_bot(self, chat_id: int, blocked: bool = True) -> None:
        """The user blocked the bot: sends answer 403 'Forbidden: bot was blocked by the user'."""
        self.state.ensure_chat(chat_id).blocked = blocked

    # -- users act -------------------------------------------------------------------------
    def user_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        first_name: str = "Alice",
        username: str | None = None,
        last_name: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        mention_bot: bool = False,
        quote: str | None = None,
    ) -> dict[str, Any]:
        """A user writes; returns the update (also when privacy mode hides it from the bot).
        ``quote``: the part of the replied-to message the user selected (a TextQuote)."""
        return self.incoming.message(
            chat_id,
            user_id,
            text,
            first_name=first_name,
            username=username,
            last_name=last_name,
            entities=entities,
            reply_to_message_id=reply_to_message_id,
            message_thread_id=message_thread_id,
            mention_bot=mention_bot,
            quote=quote,
        )

    def user_forward(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        original_author: str,
        original_author_id: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A user forwards someone's message into the chat: ``forward_origin`` names the
        original author (a ``hidden_user`` when ``original_author_id`` is None)."""
        origin = forward_origin_dict(original_author, user_id=original_author_id)
        return self.incoming.message(chat_id, user_id, text, forward_origin=origin, **kwargs)

    def user_command(
        self,
        chat_id: int,
        user_id: int,
        command: str,
        args: str = "",
        *,
        to_bot: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """'/command args' with a bot_command entity; ``to_bot`` writes '/command@bot'."""
        return self.incoming.command(chat_id, user_id, command, args, to_bot=to_bot, **kwargs)

    def user_document(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        *,
        file_size: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A user sends a file; ``file_size`` may claim more than ``len(data)`` (20 MB rule)."""
        return self.incoming.document(
            chat_id, user_id, data, file_name, mime_type, caption, file_size=file_size, **kwargs
        )

    def user_photo(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        caption: str | None = None,
        *,
        width: int = 1280,
        height: int = 960,
        file_size: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A user sends a photo: a thumbnail size first, the full ``data`` last (photo[-1])."""
        return self.incoming.photo(
            chat_id,
            user_id,
            data,
            caption,
            width=width,
            height=height,
            file_size=file_size,
            **kwargs,
        )

    def user_album(
        self,
        chat_id: int,
        user_id: int,
        photos: list[bytes],
        caption: str | None = None,
        *,
        media_group_id: str | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Photos sent together: one update per photo, sharing a media_group_id; the caption
        is on the first item only, as Telegram does."""
        group = media_group_id or str(secrets.randbits(60))
        return [
            self.incoming.photo(
                chat_id,
                user_id,
                data,
                caption if index == 0 else None,
                media_group_id=group,
                **kwargs,
            )
            for index, data in enumerate(photos)
        ]

    def user_voice(
        self, chat_id: int, user_id: int, data: bytes, *, duration: int = 3, **kwargs: Any
    ) -> dict[str, Any]:
        """A voice note (OGG/Opus, no file name)."""
        attributes = {"duration": duration, "mime_type": "audio/ogg"}
        return self.incoming.media(chat_id, user_id, "voice", data, attributes=attributes, **kwargs)

    def user_audio(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        file_name: str = "song.mp3",
        mime_type: str = "audio/mpeg",
        caption: str | None = None,
        *,
        duration: int = 30,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """An audio file sent as music (Telegram's ``audio`` field)."""
        attributes = {"duration": duration, "mime_type": mime_type, "file_name": file_name}
        return self.incoming.media(
            chat_id, user_id, "audio", data, caption, attributes=attributes, **kwargs
        )

    def user_video_note(
        self, chat_id: int, user_id: int, data: bytes, *, duration: int = 5, **kwargs: Any
    ) -> dict[str, Any]:
        """A round video note (MPEG-4, square, no MIME type or caption)."""
        attributes = {"duration": duration, "length": 240}
        return self.incoming.media(
            chat_id, user_id, "video_note", data, attributes=attributes, **kwargs
        )

    def user_sticker(
        self, chat_id: int, user_id: int, data: bytes = b"RIFF sticker", **kwargs: Any
    ) -> dict[str, Any]:
        """A static sticker (WebP, 512 px)."""
        attributes = {
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
            "emoji": "\U0001f44d",
        }
        return self.incoming.media(
            chat_id, user_id, "sticker", data, attributes=attributes, **kwargs
        )

    def user_animation(
        self,
        chat_id: int,
        user_id: int,
        data: bytes = b"GIF89a",
        caption: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A GIF (Telegram turns it into an MPEG-4 animation, also shown as ``document``)."""
        attributes = {
            "width": 320,
            "height": 240,
            "duration": 2,
            "file_name": "funny.gif.mp4",
            "mime_type": "video/mp4",
        }
        return self.incoming.media(
            chat_id, user_id, "animation", data, caption, attributes=attributes, **kwargs
        )

    def user_edit(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        """A user edits an earlier message: an edited_message update."""
        return self.incoming.edit(chat_id, message_id, text)

    def user_callback(
        self, chat_id: int, user_id: int, message_id: int, data: str, **kwargs: Any
    ) -> dict[str, Any]:
        """A user presses an inline button under ``message_id``: a callback_query update."""
        return self.incoming.callback(chat_id, user_id, message_id, data, **kwargs)

    def user_reaction(
        self, chat_id: int, user_id: int, message_id: int, emoji: list[str], **kwargs: Any
    ) -> dict[str, Any]:
        """A user reacts to ``message_id`` (``[]`` removes the reaction): message_reaction."""
        return self.incoming.reaction(chat_id, user_id, message_id, emoji, **kwargs)

    def deliver_again(self, update: dict[str, Any]) -> dict[str, Any]:
        """Send the same update (same update_id) once more, as Telegram may."""
        return self.incoming.again(update)

    # -- what the bot did ------------------------------------------------------------------
    def messages(self, chat_id: int, thread_id: int | None = None) -> list[SentMessage]:
        """Bot messages in a chat (deleted ones included, flagged), in sending order."""
        return [
            m
            for m in self.state.sent
            if m.chat_id == chat_id and (thread_id is None or m.thread_id == thread_id)
        ]

    def drafts(self, chat_id: int) -> list[tuple[int, str]]:
        """(draft_id, visible text) of every accepted sendMessageDraft, in order."""
        return list(self.state.drafts.get(chat_id, []))

    def chat_actions(self, chat_id: int) -> list[str]:
        """Accepted sendChatAction actions for a chat, in order."""
        return [action for cid, action, _ in self.state.chat_actions if cid == chat_id]

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list:
        """The command list set for a scope (default scope when None)."""
        return list(self.state.commands.get((scope_key(scope), language_code), []))

    def file(self, file_id: str) -> StoredFile:
        return self.state.files[file_id]

    @property
    def calls(self) -> list[ApiCall]:
        """Every Bot API call as (method, params, monotonic timestamp), in order."""
        return self.state.calls

    def calls_of(self, method: str) -> list[ApiCall]:
        """Calls of one method (case-insensitive)."""
        wanted = method.lower()
        return [call for call in self.state.calls if call.method.lower() == wanted]

    @property
    def failures(self) -> list[ApiFailure]:
        """Every refused call (including injected faults), in order."""
        return self.state.failures

    @property
    def flood_violations(self) -> list[str]:
        return self.flood.violations

    @property
    def hidden_updates(self) -> list[dict[str, Any]]:
        """Group messages privacy mode kept from the bot."""
        return self.incoming.hidden

    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        return self.hub.webhook_attempts

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot."""
        return self.hub.pending()

    # -- faults ----------------------------------------------------------------------------
    def inject(
        self,
        method: str,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        *,
        kind: str = "error",
        delay: float = 0.0,
    ) -> Fault:
        """Fail the next ``times`` calls of ``method`` ('*' = any method).

        ``kind="error"`` answers ``error_code`` (429 gets parameters.retry_after, default 1);
        ``kind="network"`` drops the connection; ``delay`` waits first (to provoke timeouts).
        """
        if kind not in ("error", "network"):
            raise ValueError("kind must be 'error' or 'network'")
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        fault = Fault(
            method=method.lower(),
            error_code=error_code,
            description=description,
            retry_after=retry_after,
            remaining=times,
            kind=kind,
            delay=delay,
        )
        self.state.faults.append(fault)
        return fault

    # -- waiting ---------------------------------------------------------------------------
    async def wait_for(
        self,
        predicate: Callable[[], Any] | Callable[[], Awaitable[Any]],
        timeout: float = 10.0,  # noqa: ASYNC109 - the public test-helper signature
        interval: float = 0.01,
    ) -> Any:
        """Poll ``predicate`` until truthy and return its value; TimeoutError otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if loop.time() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)
