"""SlackAdapter: slack-bolt on our event loop, over HTTP events or Socket Mode.

The bolt listeners only decide whether an event is for the bot and start a background task;
they return at once, so bolt acknowledges within Slack's 3 seconds in either mode. We run
bolt with ``process_before_response=True`` for that reason: the listener is cheap, and the
ack then means "the task exists", which makes shutdown and tests deterministic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bots.http import Route
from bots.slack import feedback
from bots.slack.context_reader import ContextReader
from bots.slack.edits import edited_message
from bots.slack.files import SlackFiles
from bots.slack.messages import MessageHandler
from bots.slack.metered import MeteredWebClient, shared_session
from bots.slack.panel import AssistantPanel
from bots.slack.people import People
from bots.slack.routing import route
from bots.slack.sink import SlackSink, StreamGate
from bots.slack.slash import SlashCommands
from bots.slack.target import ReplyTarget
from core.service import Services
from core.types import ReplySink
from core.vocabulary import ConversationKey

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
COMMANDS_PATH = "/slack/commands"
COMMAND = "/kimi"


class SlackAdapter:
    """One Slack workspace (the bot token's), served by HTTP events or Socket Mode."""

    name = "slack"

    def __init__(self, services: Services, *, stop_grace: float = 10.0) -> None:
        settings = services.settings
        if settings.slack_bot_token is None:
            raise ValueError("SlackAdapter needs SLACK_BOT_TOKEN")
        token = settings.slack_bot_token.get_secret_value()
        self._services = services
        self._app_token = (
            settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
        )
        secret = settings.slack_signing_secret
        self._stop_grace = stop_grace
        self._interval = settings.slack_update_interval
        # No rate-limit retry handler: bots.slack.api retries per call (its docstring says why).
        self.client = MeteredWebClient(
            token=token, base_url=settings.slack_api_url, session=shared_session()
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=secret.get_secret_value() if secret else "",
            process_before_response=True,
            logger=logging.getLogger("bots.slack.bolt"),
            name="kimi-bot",
        )
        self.gate = StreamGate()
        self.people = People(self.client)
        self.files = SlackFiles(token)
        self.panel = AssistantPanel(self.client, self.people, settings.slack_suggested_prompts)
        reader = ContextReader(self.client, self.people, settings.slack_thread_context_tokens)
        self._messages = MessageHandler(
            conversations=services.conversations,
            assistant=services.assistant,
            people=self.people,
            files=self.files,
            sinks=self.sink,
            client=self.client,
            reader=reader,
            panel=self.panel,
            answer_edits=settings.answer_edits,
        )
        self._commands = SlashCommands(
            client=self.client,
            assistant=services.assistant,
            people=self.people,
            sinks=self.sink,
            reader=reader,
            conversations=services.conversations,
        )
        self._socket: AsyncSocketModeHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.app.event("app_mention")(self._on_event)
        self.app.event("message")(self._on_event)
        self.app.event("assistant_thread_started")(self._on_thread_started)
        self.app.event("assistant_thread_context_changed")(self._on_context_changed)
        self.app.command(COMMAND)(self._on_command)
        self.app.action(feedback.ACTIONS)(self._on_feedback)

    @property
    def socket_mode(self) -> bool:
        return self._app_token is not None

    def sink(self, target: ReplyTarget, lang: str = "en") -> ReplySink:
        return SlackSink(self.client, target, interval=self._interval, gate=self.gate, lang=lang)

    # ------------------------------------------------------------------ lifecycle

    def routes(self) -> list[Route]:
        """HTTP events and commands (the same handler: bolt tells them apart); none in Socket Mode."""
        if self.socket_mode:
            return []
        return [("POST", EVENTS_PATH, self.handle_http), ("POST", COMMANDS_PATH, self.handle_http)]

    async def notify(self, key: ConversationKey, text: str) -> None:
        """A plain message into the channel (and thread) of a conversation."""
        await self.client.chat_postMessage(
            channel=key.chat, thread_ts=key.thread or None, text=text
        )

    async def notify_user(self, user_id: str, text: str) -> None:
        """A direct message (admin alerts): posting to a user id opens the app's DM with them."""
        await self.client.chat_postMessage(channel=user_id, text=text)

    async def start(self) -> None:
        identity = await self.client.auth_test()
        log.info(
            "Slack: connected as %s (%s) in %s",
            identity.get("user"),
            identity.get("user_id"),
            identity.get("team"),
        )
        if self._app_token is not None:
            self._socket = AsyncSocketModeHandler(self.app, self._app_token)
            await self._socket.connect_async()
            log.info("Slack: Socket Mode connected")
        else:
            log.info("Slack: HTTP events at %s, commands at %s", EVENTS_PATH, COMMANDS_PATH)

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self._stop_grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        await self.files.close()
        if self.client.session is not None and not self.client.session.closed:
            await self.client.session.close()

    async def idle(self) -> None:
        """Wait until every event taken so far has been fully handled (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ transport

    async def handle_http(self, request: web.Request) -> web.Response:
        """Bolt verifies the signature and timestamp (401 otherwise) and dispatches."""
        if not request.headers.get("X-Slack-Request-Timestamp", "").strip().isdigit():
            return web.Response(status=401, text="invalid request timestamp")
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    # ------------------------------------------------------------------ listeners

    async def _on_event(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        team_id = str(body.get("team_id") or event.get("team") or context.team_id or "")
        event_id = str(body.get("event_id") or "")
        if event.get("subtype") == "message_changed":
            edited = edited_message(event, context.bot_user_id)
            addressed = edited and route(edited, team_id=team_id, bot_user_id=context.bot_user_id)
            if edited and addressed:
                self._spawn(
                    self._messages.handle_edit(addressed, edited, event_id, context.bot_user_id)
                )
            return
        addressed = route(event, team_id=team_id, bot_user_id=context.bot_user_id)
        if addressed is None:
            return
        self._spawn(self._messages.handle(addressed, event, event_id, context.bot_user_id))

    async def _on_thread_started(self, event: dict[str, Any]) -> None:
        self._spawn(self.panel.started(event))

    async def _on_context_changed(self, event: dict[str, Any]) -> None:
        self.panel.context_changed(event)

    async def _on_command(
        self, ack: Any, command: dict[str, Any], respond: Any, context: AsyncBoltContext
    ) -> None:
        await ack()
        self._spawn(self._commands.run(command, respond, context.bot_user_id))

    async def _on_feedback(self, ack: Any, body: dict[str, Any]) -> None:
        """A 👍/👎 press under an answer (Block Kit interactivity)."""
        await ack()
        self._spawn(feedback.on_press(self._services.feedback, self.client, body))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Slack: handling an event failed")
