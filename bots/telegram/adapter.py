"""TelegramAdapter: python-telegram-bot inside our event loop, beside the HTTP server and Slack.

PTB's ``run_polling``/``run_webhook`` would own the event loop, so the lifecycle is manual:
initialize, start, and long polling by default; with TELEGRAM_WEBHOOK_URL set, updates arrive
on our own HTTP server (``POST /telegram/webhook``) instead and PTB runs without an Updater.
With REDIS_URL set, polling is guarded by a lease so only one worker polls
(:mod:`bots.telegram.polling_lease`); several workers should use the webhook.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bots.http import Route
from bots.telegram.addressing import BotIdentity
from bots.telegram.commands import register_commands
from bots.telegram.delivery import describe
from bots.telegram.flood import FloodGuard, FloodRateLimiter
from bots.telegram.metered import MeteredRequest
from bots.telegram.polling_lease import PollingLease
from bots.telegram.updates import UpdateProcessor
from bots.telegram.webhook import PATH, WebhookReceiver, derive_secret, webhook_url
from core.config import ConfigError
from core.service import Services
from core.vocabulary import ConversationKey

log = logging.getLogger(__name__)

# Reactions are opt-in: 👍/👎 on an answer is its feedback (bots.telegram.reactions).
ALLOWED_UPDATES = [Update.MESSAGE, Update.MESSAGE_REACTION]
POLL_TIMEOUT = 10  # seconds a getUpdates long poll may wait
# A generous read timeout makes "sent, but the answer timed out" (a duplicate on retry) rare.
READ_TIMEOUT = 20.0
POLL_LEASE_SECONDS = 15.0  # with REDIS_URL: a dead poller is replaced within this time


class TelegramAdapter:
    name = "telegram"

    def __init__(self, services: Services) -> None:
        settings = services.settings
        if settings.telegram_bot_token is None:
            raise ValueError("TelegramAdapter needs TELEGRAM_BOT_TOKEN")
        token = settings.telegram_bot_token.get_secret_value()
        self._settings = settings
        # Edits are asked for only when they are answered (ANSWER_EDITS).
        self._allowed_updates = ALLOWED_UPDATES + (
            [Update.EDITED_MESSAGE] if settings.answer_edits else []
        )
        self._webhook_url = (
            webhook_url(settings.telegram_webhook_url) if settings.telegram_webhook_url else None
        )
        api = settings.telegram_api_url
        # One guard for every call of this bot: the answers' writers and, through PTB's rate
        # limiter hook, everything else (notices, typing, the command menu).
        self.guard = FloodGuard()
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{api}/bot")
            .base_file_url(f"{api}/file/bot")
            .concurrent_updates(True)
            .request(MeteredRequest(connection_pool_size=256, read_timeout=READ_TIMEOUT))
            .get_updates_request(MeteredRequest(connection_pool_size=1))
            .rate_limiter(FloodRateLimiter(self.guard))
        )
        if self._webhook_url:
            builder = builder.updater(None)
        self.app: Application = builder.build()
        self._redis = services.redis
        self._worker_id = services.assistant.worker_id or "worker"
        self._lease: PollingLease | None = None
        self._identity: BotIdentity | None = None
        self.processor = UpdateProcessor(
            settings=settings,
            conversations=services.conversations,
            assistant=services.assistant,
            bot=self.app.bot,
            identity=self.identity,
            guard=self.guard,
            feedback=services.feedback,
        )
        self.app.add_handler(TypeHandler(Update, self.processor))
        self.app.add_error_handler(self._on_error)
        secret = settings.telegram_webhook_secret
        self._secret = secret.get_secret_value() if secret else derive_secret(token)
        self.webhook = WebhookReceiver(
            self._secret,
            bot=lambda: self.app.bot,
            queue=lambda: self.app.update_queue,
            ready=lambda: self.app.running,
        )

    @property
    def mode(self) -> str:
        return "webhook" if self._webhook_url else "polling"

    def identity(self) -> BotIdentity:
        if self._identity is None:
            raise RuntimeError("TelegramAdapter is not started")
        return self._identity

    def routes(self) -> list[Route]:
        if not self._webhook_url:
            return []
        return [("POST", PATH, self.webhook.handle)]

    async def notify(self, key: ConversationKey, text: str) -> None:
        """A plain message into the chat (and topic) of a conversation."""
        await self.app.bot.send_message(
            chat_id=int(key.chat),
            text=text,
            message_thread_id=int(key.thread) if key.thread else None,
        )

    async def notify_user(self, user_id: str, text: str) -> None:
        """A direct message (admin alerts): a user's private chat id is their user id. Telegram
        refuses ("chat not found") until the user has opened a chat with the bot."""
        await self.app.bot.send_message(chat_id=int(user_id), text=text)

    async def start(self) -> None:
        """Check the token, register commands, then poll or set the webhook.

        Start-up problems become a ConfigError naming the setting: PTB's own InvalidToken
        message contains the token, so it must never reach a log or the terminal.
        """
        try:
            await self._start()
        except InvalidToken:
            await self._abandon()
            raise ConfigError(
                "invalid setting TELEGRAM_BOT_TOKEN: Telegram rejected the token "
                "(copy it again from @BotFather)"
            ) from None
        except BadRequest as exc:
            await self._abandon()
            raise ConfigError(
                f"invalid setting TELEGRAM_WEBHOOK_URL/TELEGRAM_WEBHOOK_SECRET: {exc.message}"
            ) from None
        except NetworkError as exc:
            await self._abandon()
            raise ConfigError(
                f"cannot reach the Telegram Bot API at {self._settings.telegram_api_url} "
                f"(TELEGRAM_API_URL): {describe(exc)}"
            ) from None

    async def _start(self) -> None:
        await self.app.initialize()  # getMe
        bot = self.app.bot
        self._identity = BotIdentity(id=bot.id, username=bot.username)
        await register_commands(bot)
        await self.app.start()
        if self._webhook_url:
            await bot.set_webhook(
                self._webhook_url, secret_token=self._secret, allowed_updates=self._allowed_updates
            )
        elif self._redis is not None:
            self._lease = PollingLease(
                self._redis,
                f"kimi:telegram:poller:{bot.id}",
                start_polling=self._start_polling,
                stop_polling=self._stop_polling,
                owner=self._worker_id,
                ttl=POLL_LEASE_SECONDS,
            )
            await self._lease.start()
        else:
            await self._start_polling()
        log.info("telegram: @%s ready (%s)", bot.username, self.mode)

    async def _start_polling(self) -> None:
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            timeout=POLL_TIMEOUT,
            allowed_updates=self._allowed_updates,
            error_callback=self._on_polling_error,
        )

    async def _stop_polling(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()

    async def _abandon(self) -> None:
        try:
            await self.stop()
        except Exception as exc:
            log.debug("cleanup after a failed start: %s", type(exc).__name__)

    async def stop(self) -> None:
        """Stop taking updates, let answers in progress finish, close connections.

        The webhook is left registered: another instance (a rolling deploy) may be serving it.
        """
        if self._lease is not None:
            await self._lease.close()
            self._lease = None
        await self._stop_polling()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def _on_error(self, _update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        log.error("telegram handler error: %s", describe(error) if error else "unknown")

    def _on_polling_error(self, error: TelegramError) -> None:
        log.warning("telegram polling error (will retry): %s", describe(error))
