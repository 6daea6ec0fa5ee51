"""SlackEmulator: the Web API server, the file host, Socket Mode and the event sender in one.

Tests point the real slack-sdk ``AsyncWebClient(base_url=emu.url + "/api/")`` and a real
bolt app at it, then drive users (``user_message``, ``slash_command``) and inspect what
the bot did (``messages``, ``statuses``, ``calls``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from . import api_chat, api_history, api_info, api_stream
from .delivery import Delivery, EventSender
from .faults import FaultInjector, Injection
from .files import FileHost
from .ids import TsClock, random_id
from .limits import RateLimiter, RateLimitViolation, RateRule
from .payloads import (
    app_mention_event,
    event_callback,
    message_changed_event,
    new_file_id,
    slash_command_payload,
    url_verification_payload,
    user_message_event,
)
from .signing import signed_headers
from .socket_mode import SocketModeServer
from .state import (
    ApiCall,
    Channel,
    HostedFile,
    PostedMessage,
    StatusUpdate,
    User,
    Workspace,
)
from .web_api import ApiConfig, WebApi

T = TypeVar("T")


@dataclass
class SentUserMessage:
    """What ``user_message`` did: the message ``ts``, the event wrappers and their deliveries."""

    ts: str
    envelopes: list[dict[str, Any]]
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def event_ids(self) -> list[str]:
        return [e["event_id"] for e in self.envelopes]

    def envelope(self, event_type: str) -> dict[str, Any]:
        """The wrapper whose inner event has this type (``message`` or ``app_mention``)."""
        for env in self.envelopes:
            if env["event"]["type"] == event_type:
                return env
        raise KeyError(event_type)


class SlackEmulator:
    """A local Slack: serves the Web API and delivers events to the bot under test."""

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        signing_secret: str = "secret",
        team_id: str = "T001",
        bot_user_id: str = "U0BOT",
        streaming_enabled: bool = True,
        *,
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
        bot_name: str = "kimi",
        enforce_rate_limits: bool = False,
        rate_rules: dict[str, RateRule] | None = None,
        strict_stream_recipients: bool = True,
        stream_lifetime: float = 300.0,
        ack_timeout: float = 3.0,
        echo_bot_events: bool = False,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.echo_bot_events = echo_bot_events
        self.workspace = Workspace(
            team_id=team_id,
            team_name="Emulated Workspace",
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
        )
        self.workspace.users[bot_user_id] = User(
            bot_user_id, bot_name, bot_name, bot_name, team_id, is_bot=True, bot_id=bot_id
        )
        self.limiter = RateLimiter(enabled=enforce_rate_limits)
        if rate_rules is not None:
            self.limiter.rules.update(rate_rules)
        self.faults = FaultInjector()
        self.clock = TsClock()
        self.api = WebApi(
            self.workspace,
            ApiConfig(
                bot_token=bot_token,
                app_token=app_token,
                bot_name=bot_name,
                streaming_enabled=streaming_enabled,
                strict_stream_recipients=strict_stream_recipients,
                stream_lifetime=stream_lifetime,
            ),
            faults=self.faults,
            limiter=self.limiter,
            clock=self.clock,
        )
        handlers_sets = (
            api_info.HANDLERS,
            api_chat.HANDLERS,
            api_stream.HANDLERS,
            api_history.HANDLERS,
        )
        for handlers in handlers_sets:
            self.api.register(handlers)
        self.socket = SocketModeServer(app_id)
        self.api.open_socket_url = self.socket.issue_url
        self.api.on_bot_event = self._echo
        self.sender = EventSender(signing_secret, self.socket, ack_timeout)
        self.files = FileHost(self.workspace, bot_token)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # ----------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_route("*", "/api/{method}", self.api.handle)
        app.router.add_get("/files-pri/{ref}/download/{name}", self.files.handle)
        app.router.add_get("/files-pri/{ref}/{name}", self.files.handle)
        app.router.add_get("/link/", self.socket.handle)
        app.router.add_post("/commands/{team}/{command_id}/{secret}", self._response_url)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
        bound_port = sockets[0].getsockname()[1]
        self._url = f"http://{host}:{bound_port}"
        self.api.base_url = self._url
        self.socket.base_ws_url = f"ws://{host}:{bound_port}"
        await self.sender.start()

    async def stop(self) -> None:
        await self.socket.close()
        await self.sender.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://host:port``; the Web API lives under ``url + "/api/"``."""
        if self._url is None:
            raise RuntimeError("emulator not started")
        return self._url

    @property
    def api_url(self) -> str:
        """The ``base_url`` to give AsyncWebClient (trailing slash matters)."""
        return f"{self.url}/api/"

    # ----------------------------------------------------------------- workspace setup

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def bot_user_id(self) -> str:
        return self.workspace.bot_user_id

    @property
    def bot_id(self) -> str:
        return self.workspace.bot_id

    def add_user(
        self, user_id: str, name: str, real_name: str = "", display_name: str = "", **extra: Any
    ) -> User:
        user = User(user_id, name, real_name or name, display_name, self.team_id, **extra)
        self.workspace.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str = "",
        is_im: bool = False,
        user: str | None = None,
        is_private: bool = False,
    ) -> Channel:
        if is_im and not user:
            raise ValueError("a DM needs the other member: add_channel(id, is_im=True, user=...)")
        channel = Channel(
            channel_id, name or channel_id, is_im=is_im, user=user, is_private=is_private
        )
        self.workspace.channels[channel_id] = channel
        return channel

    def add_file(
        self,
        file_id: str,
        name: str,
        mimetype: str,
        data: bytes,
        size: int | None = None,
        user: str = "",
        *,
        clip: str | None = None,
        duration_ms: int | None = None,
    ) -> dict[str, Any]:
        """Host a file and return the Slack file object to put in a file_share message.

        ``clip="audio"`` / ``"video"`` makes it a clip recorded in Slack (``subtype``
        ``slack_audio`` / ``slack_video``, ``media_display_type``, ``duration_ms``)."""
        hosted = HostedFile(
            file_id or new_file_id(),
            name,
            mimetype,
            data,
            len(data) if size is None else size,
            user,
        )
        self.workspace.files[hosted.id] = hosted
        api = hosted.to_api(self.url, self.team_id)
        if clip is not None:
            api.update(subtype=f"slack_{clip}", media_display_type=clip)
        if duration_ms is not None:
            api["duration_ms"] = duration_ms
        return api

    # ----------------------------------------------------------------- delivery routing

    @property
    def events_url(self) -> str | None:
        return self.sender.events_url

    @events_url.setter
    def events_url(self, value: str | None) -> None:
        self.sender.events_url = value

    @property
    def commands_url(self) -> str | None:
        """Where slash commands go in HTTP mode; defaults to ``events_url``."""
        return self.sender.commands_url or self.sender.events_url

    @commands_url.setter
    def commands_url(self, value: str | None) -> None:
        self.sender.commands_url = value

    @property
    def ack_timeout(self) -> float:
        return self.sender.ack_timeout

    @ack_timeout.setter
    def ack_timeout(self, value: float) -> None:
        self.sender.ack_timeout = value

    # ----------------------------------------------------------------- acting as users

    async def user_message(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        mention_bot: bool = False,
        files: list[dict[str, Any]] | None = None,
    ) -> SentUserMessage:
        """A person posts a message: Slack stores it and sends the bot its event(s).

        A mention yields two events (``message`` and ``app_mention``), each with its own
        ``event_id``, delivered concurrently as Slack does, so bots must own each once.
        """
        chan = self._channel(channel)
        if user not in self.workspace.users:
            raise ValueError(f"unknown user {user!r}: call add_user first")
        if mention_bot:
            text = f"<@{self.bot_user_id}> {text}"
        ts = self.clock.next()
        parent_user = None
        if thread_ts:
            parent = self.workspace.find_message(channel, thread_ts)
            parent_user = parent.user if parent else None
        self.workspace.messages.append(
            PostedMessage(channel, ts, text, user, thread_ts=thread_ts, files=files)
        )
        message = user_message_event(
            channel=chan,
            user=user,
            text=text,
            ts=ts,
            team_id=self.team_id,
            thread_ts=thread_ts,
            parent_user_id=parent_user,
            files=files,
        )
        events = [message]
        if mention_bot:
            events.append(app_mention_event(message))
        envelopes = [self._wrap(event) for event in events]
        deliveries = await asyncio.gather(*(self.sender.send_event(env) for env in envelopes))
        return SentUserMessage(ts, envelopes, list(deliveries))

    def seed_message(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
        *,
        bot: bool = False,
    ) -> str:
        """A message already in the channel, delivered to nobody (history from before the bot
        was there, or one it was not subscribed to); ``bot=True`` makes it the bot's own."""
        self._channel(channel)
        ts = self.clock.next()
        bot_id = self.bot_id if bot else None
        self.workspace.messages.append(
            PostedMessage(
                channel,
                ts,
                text,
                self.bot_user_id if bot else user,
                thread_ts=thread_ts,
                files=files,
                is_bot=bot,
                bot_id=bot_id,
            )
        )
        return ts

    async def edit_message(self, channel: str, ts: str, text: str) -> Delivery:
        """A person edits their message: Slack sends ``message`` / ``message_changed``."""
        chan = self._channel(channel)
        msg = self.workspace.find_message(channel, ts)
        if msg is None or msg.is_bot:
            raise ValueError(f"no user message {ts!r} in {channel!r}")
        previous = msg.to_api(self.team_id, self.workspace.app_id)
        msg.text = text
        msg.edited_at = float(self.clock.next())
        event = message_changed_event(msg, previous, chan, self.team_id, self.workspace.app_id)
        return await self.send_event(event)

    async def assistant_thread_started(
        self, channel: str, user: str, context_channel: str | None = None
    ) -> tuple[str, Delivery]:
        """The user opens the assistant panel: a new thread in the app's DM (its ``thread_ts``)."""
        thread_ts = self.clock.next()
        event = self._assistant_event(
            "assistant_thread_started", channel, user, thread_ts, context_channel
        )
        return thread_ts, await self.send_event(event)

    async def assistant_context_changed(
        self, channel: str, user: str, thread_ts: str, context_channel: str | None
    ) -> Delivery:
        """The user, panel open, switched to another channel (None: a view with no channel)."""
        event = self._assistant_event(
            "assistant_thread_context_changed", channel, user, thread_ts, context_channel
        )
        return await self.send_event(event)

    def _assistant_event(
        self, kind: str, channel: str, user: str, thread_ts: str, context_channel: str | None
    ) -> dict[str, Any]:
        chan = self._channel(channel)
        if not chan.is_im:
            raise ValueError("assistant threads live in the app's DM with the user")
        context: dict[str, Any] = {}
        if context_channel is not None:
            self._channel(context_channel)
            context = {"channel_id": context_channel, "team_id": self.team_id}
        return {
            "type": kind,
            "assistant_thread": {
                "user_id": user,
                "context": context,
                "channel_id": channel,
                "thread_ts": thread_ts,
            },
            "event_ts": self.clock.next(),
        }

    @property
    def suggested_prompts(self) -> list[dict[str, Any]]:
        """``assistant.threads.setSuggestedPrompts`` calls: channel, thread_ts, title, prompts."""
        return self.workspace.suggested_prompts

    @property
    def titles(self) -> list[tuple[str, str, str]]:
        """``assistant.threads.setTitle`` calls: (channel, thread_ts, title)."""
        return self.workspace.titles

    async def send_event(self, event: dict[str, Any]) -> Delivery:
        """Deliver any inner event (wrapped in a fresh event_callback)."""
        return await self.sender.send_event(self._wrap(event))

    async def redeliver(
        self, envelope: dict[str, Any], retry_num: int = 1, reason: str = "http_timeout"
    ) -> Delivery:
        """Slack's retry: the same event_id again, with X-Slack-Retry-Num/Reason (or retry_attempt)."""
        return await self.sender.send_event(envelope, retry_num=retry_num, retry_reason=reason)

    async def post_event(
        self,
        payload: dict[str, Any] | str | bytes,
        *,
        sign: bool = True,
        timestamp: int | str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        url: str | None = None,
    ) -> tuple[int, str]:
        """Raw HTTP POST to the events URL, for bad signatures and stale timestamps."""
        target = url or self.events_url
        if not target:
            raise RuntimeError("set events_url first")
        if isinstance(payload, bytes):
            body = payload.decode()
        elif isinstance(payload, str):
            body = payload
        else:
            body = json.dumps(payload)
        all_headers = {"Content-Type": "application/json"}
        if sign or signature is not None or timestamp is not None:
            all_headers.update(
                signed_headers(
                    self.signing_secret, body, timestamp=timestamp, override_signature=signature
                )
            )
        all_headers.update(headers or {})
        return await self.sender.post_raw(target, body, all_headers)

    async def url_verification(self) -> tuple[bool, str]:
        """Slack's Request URL handshake: True when the bot echoes the challenge."""
        payload = url_verification_payload()
        status, body = await self.post_event(payload)
        try:
            echoed = json.loads(body).get("challenge")
        except (json.JSONDecodeError, AttributeError):
            echoed = body.strip()
        return status == 200 and echoed == payload["challenge"], body

    async def slash_command(self, command: str, text: str, channel: str, user: str) -> Delivery:
        """A user runs ``/command text``: form-encoded and signed (HTTP) or a socket envelope."""
        chan = self._channel(channel)
        member = self.workspace.users.get(user)
        if member is None:
            raise ValueError(f"unknown user {user!r}: call add_user first")
        command_id = random_id("", 12)
        form = slash_command_payload(
            command=command,
            text=text,
            channel=chan,
            user_id=user,
            user_name=member.name,
            team_id=self.team_id,
            app_id=self.workspace.app_id,
            response_url=f"{self.url}/commands/{self.team_id}/{command_id}/{random_id('', 24)}",
        )
        return await self.sender.send_command(form)

    async def click_button(
        self, channel: str, ts: str, user: str, action_id: str, *, choice: str | None = None
    ) -> Delivery:
        """A user presses the button ``action_id`` in the blocks of message ``ts`` (a channel
        message, or an ephemeral one shown to that user): a ``block_actions`` interaction
        carrying the button's value. For feedback buttons (a ``context_actions`` block),
        ``choice`` is ``"positive"`` or ``"negative"``: the action carries that button's value."""
        from .payloads import block_actions_payload

        chan = self._channel(channel)
        member = self.workspace.users.get(user)
        if member is None:
            raise ValueError(f"unknown user {user!r}: call add_user first")
        shown: dict[str, Any] | None = None
        ephemeral = False
        posted = next((m for m in self.history(channel) if m.ts == ts), None)
        if posted is not None:
            shown = {"type": "message", "ts": posted.ts, "user": posted.user, "text": posted.text}
            shown.update(blocks=posted.blocks, thread_ts=posted.thread_ts)
        for eph in self.ephemerals:
            if eph["channel"] == channel and eph["message_ts"] == ts and eph["user"] == user:
                shown = {"ts": ts, "text": eph["text"], "blocks": eph["blocks"]}
                shown["thread_ts"] = eph.get("thread_ts")
                ephemeral = True
        if shown is None or not shown.get("blocks"):
            raise ValueError(f"no message {ts} with blocks for {user} in {channel}")
        for block in shown["blocks"]:
            for element in block.get("elements") or []:
                if isinstance(element, dict) and element.get("action_id") == action_id:
                    if element.get("type") == "feedback_buttons":
                        element = _feedback_press(element, choice)
                    payload = block_actions_payload(
                        message={k: v for k, v in shown.items() if v is not None},
                        channel=chan,
                        ephemeral=ephemeral,
                        user_id=user,
                        user_name=member.name,
                        team_id=self.team_id,
                        app_id=self.workspace.app_id,
                        action=element,
                        block_id=str(block.get("block_id") or random_id("", 5)),
                        response_url=f"{self.url}/actions/{self.team_id}/{random_id('', 24)}",
                    )
                    return await self.sender.send_interaction(payload)
        raise ValueError(f"message {ts} has no button {action_id!r}")

    async def disconnect_sockets(self, reason: str = "refresh_requested") -> None:
        """Send Socket Mode ``disconnect`` frames and close the connections."""
        await self.socket.disconnect_all(reason)

    # ----------------------------------------------------------------- faults and time

    def inject(
        self,
        method: str,
        error: str = "ratelimited",
        status: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> Injection:
        """The next ``times`` calls of ``method`` fail with ``error``.

        ``ratelimited`` defaults to HTTP 429 with ``Retry-After: 1`` (as Slack sends it);
        other errors to HTTP 200 with ``ok: false``.
        """
        return self.faults.add(method, error, status=status, retry_after=retry_after, times=times)

    def clear_injections(self) -> None:
        self.faults.clear()

    def expire_streams(self) -> list[str]:
        """Every open stream ends as after Slack's ~5 minute limit; returns their ts."""
        expired = []
        for msg in self.workspace.messages:
            if msg.streamed and msg.stream_state == "streaming":
                api_stream.expire(msg)
                expired.append(msg.ts)
        return expired

    async def wait_for(
        self,
        predicate: Callable[[], T | Awaitable[T]],
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the public API tests are written against
        interval: float = 0.01,
    ) -> T:
        """Poll until ``predicate()`` is truthy and return its value; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value  # type: ignore[return-value]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)

    # ----------------------------------------------------------------- inspection

    def messages(
        self, channel: str, thread_ts: str | None = None, include_deleted: bool = False
    ) -> list[PostedMessage]:
        """The bot's messages in ``channel`` in posting order (only the thread's, if given)."""
        return [
            m
            for m in self.workspace.messages
            if m.is_bot
            and m.channel == channel
            and (thread_ts is None or m.thread_ts == thread_ts)
            and (include_deleted or not m.deleted)
        ]

    def history(self, channel: str) -> list[PostedMessage]:
        """Every message in the channel, users' and the bot's."""
        return [m for m in self.workspace.messages if m.channel == channel]

    @property
    def statuses(self) -> list[StatusUpdate]:
        return self.workspace.statuses

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        return self.workspace.ephemerals

    @property
    def reactions(self) -> list[tuple[str, str, str]]:
        return self.workspace.reactions

    @property
    def calls(self) -> list[ApiCall]:
        return self.api.calls

    def calls_of(self, method: str) -> list[ApiCall]:
        return [c for c in self.api.calls if c.method == method]

    @property
    def rate_limit_violations(self) -> list[RateLimitViolation]:
        return self.limiter.violations

    @property
    def deliveries(self) -> list[Delivery]:
        return self.sender.deliveries

    @property
    def command_responses(self) -> list[dict[str, Any]]:
        """Slash command answers: ``{"source": "ack"|"response_url", "body": ...}``."""
        return self.sender.command_responses

    @property
    def acked_envelope_ids(self) -> list[str]:
        return self.socket.acked_envelope_ids

    @property
    def socket_connections(self) -> int:
        return sum(1 for ws in self.socket.connections if not ws.closed)

    @property
    def file_downloads(self) -> list[tuple[str, bool]]:
        """``(file_id, authorized)`` per request to a file URL."""
        return self.files.downloads

    # ----------------------------------------------------------------- internals

    def _channel(self, channel_id: str) -> Channel:
        chan = self.workspace.channels.get(channel_id)
        if chan is None:
            raise ValueError(f"unknown channel {channel_id!r}: call add_channel first")
        return chan

    def _wrap(self, event: dict[str, Any]) -> dict[str, Any]:
        return event_callback(
            event,
            team_id=self.team_id,
            app_id=self.workspace.app_id,
            bot_user_id=self.bot_user_id,
        )

    def _echo(self, event: dict[str, Any]) -> None:
        if self.echo_bot_events:
            self.sender.schedule(self._wrap(event))

    async def _response_url(self, request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except json.JSONDecodeError:
            body = {"text": await request.text()}
        self.sender.command_responses.append({"source": "response_url", "body": body})
        return web.Response(text="ok")


def _feedback_press(element: dict[str, Any], choice: str | None) -> dict[str, Any]:
    """The action a press on one of a ``feedback_buttons`` element's two buttons reports."""
    if choice not in ("positive", "negative"):
        raise ValueError("feedback buttons: pass choice='positive' or 'negative'")
    button = element[f"{choice}_button"]
    return {
        "action_id": element["action_id"],
        "type": "feedback_buttons",
        "text": button.get("text"),
        "value": button.get("value", ""),
    }
