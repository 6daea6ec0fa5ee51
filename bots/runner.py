"""``kimi-bot run``: the HTTP server plus every configured platform adapter, in one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Protocol

from bots.http import HttpServer, Route, build_app, readiness_checks
from core.balance_watch import BalanceWatch
from core.config import Settings
from core.event_loop import running_loop_name
from core.log_context import bind_worker
from core.retention import Retention, RetentionPolicy
from core.runtime import (
    EXIT_ALLOWANCE,
    collect_young_less_often,
    freeze_startup_objects,
    release_free_memory_every,
    watch_the_exit,
)
from core.service import Services, start_services
from core.vocabulary import ConversationKey
from core.workers import WorkerPresence

log = logging.getLogger(__name__)

NO_PLATFORM_HINT = (
    "no chat platform configured: set TELEGRAM_BOT_TOKEN for Telegram, and/or SLACK_BOT_TOKEN "
    "with SLACK_SIGNING_SECRET (HTTP events) or SLACK_APP_TOKEN (Socket Mode) for Slack."
)
DEMO_BANNER = (
    "DEMO MODE: no MOONSHOT_API_KEY is set, so answers come from the offline emulator, not from "
    "Kimi. Set MOONSHOT_API_KEY (and a platform token) for a real deployment."
)


class Adapter(Protocol):
    """A platform adapter: HTTP routes it wants, and a lifecycle inside our event loop."""

    name: str

    def routes(self) -> list[Route]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def notify(self, key: ConversationKey, text: str) -> None:
        """Post a standalone message into a conversation (e.g. a turn a crash interrupted)."""
        ...


def configured_adapters(services: Services, *, demo: bool = False) -> list[Adapter]:
    """Adapters whose settings are present. Platform packages import lazily."""
    adapters: list[Adapter] = []
    if services.settings.web_chat:
        from bots.web import WebChatAdapter

        adapters.append(WebChatAdapter(services, demo=demo))
    # The operator console (/admin) on the same HTTP server; its own login, off without one.
    from bots.web.admin import AdminConsole

    adapters.append(AdminConsole(services, demo=demo))
    if services.settings.telegram_enabled:
        from bots.telegram import TelegramAdapter

        adapters.append(TelegramAdapter(services))
    if services.settings.slack_enabled:
        from bots.slack import SlackAdapter

        adapters.append(SlackAdapter(services))
    return adapters


async def serve(
    settings: Settings, stop: asyncio.Event | None = None, *, demo: bool = False
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM). ``demo``: Moonshot is the emulator."""
    services = await start_services(settings, check_served=True)
    bind_worker(services.assistant.worker_id)
    stop = stop or asyncio.Event()
    _install_signal_handlers(stop, settings.shutdown_grace + EXIT_ALLOWANCE)
    adapters = configured_adapters(services, demo=demo)
    if services.alerts is not None:
        for adapter in adapters:  # Telegram and Slack can message an admin directly
            services.alerts.register_adapter(adapter)
    routes = [route for adapter in adapters for route in adapter.routes()]
    checks = readiness_checks(services.db, services.redis)

    started_up = asyncio.Event()

    async def accepting() -> None:
        if not started_up.is_set():  # adapters and the first heartbeat are still starting
            raise RuntimeError("starting")
        if services.assistant.closing:  # draining: the load balancer should stop sending work
            raise RuntimeError("shutting down")

    checks.append(("worker", accepting))
    server = HttpServer(build_app(services.db, routes, checks=checks), settings.host, settings.port)
    try:
        await server.start()
    except BaseException:  # e.g. the port is busy: nothing was served, close what was opened
        await server.stop()
        await services.close()
        raise
    log.info(
        "HTTP server on http://%s:%d (GET /healthz /readyz /metrics); worker %s",
        settings.host,
        server.port,
        services.assistant.worker_id,
    )
    if services.served is not None:
        services.served.report()  # now: a busy port above stays a failed start's only line
    started: list[Adapter] = []
    by_platform = {adapter.name.lower(): adapter for adapter in adapters}

    async def notify(key: ConversationKey, text: str) -> None:
        adapter = by_platform.get(key.platform)
        if adapter is not None:
            await adapter.notify(key, text)

    dead_after = settings.worker_dead_after
    presence = WorkerPresence(
        services.db,
        services.assistant.worker_id or "worker",
        notify,
        heartbeat_every=min(10.0, dead_after / 3),
        dead_after=dead_after,
    )
    retention = Retention(
        services.db,
        RetentionPolicy.from_settings(settings),
        every=settings.retention_every,
        redis=services.redis,
        owner=services.assistant.worker_id or "worker",
    )
    balance = _balance_watch(services)
    trimming = asyncio.create_task(release_free_memory_every(settings.memory_trim_every))
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.info("%s adapter started", adapter.name)
        await presence.start()
        await retention.start()
        if balance is not None:
            balance.start()  # after the adapters: a low balance at start is a DM already
        frozen = freeze_startup_objects()  # after the adapters: their objects are start-up's too
        young, _, _ = collect_young_less_often(settings.gc_young_threshold)
        log.info(
            "on the %s event loop; kept %d start-up objects out of garbage collections, "
            "a young collection every %d allocations",
            running_loop_name(),
            frozen,
            young,
        )
        started_up.set()
        _announce(settings, server.port, adapters, demo=demo)
        await stop.wait()
        log.info(
            "shutting down: finishing answers in progress (up to %.0fs)", settings.shutdown_grace
        )
        await services.assistant.drain(settings.shutdown_grace)
    finally:
        trimming.cancel()
        if balance is not None:
            await balance.stop()
        await retention.stop()
        await presence.stop()
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("%s adapter did not stop cleanly", adapter.name)
        await server.stop()
        await services.close()


def _balance_watch(services: Services) -> BalanceWatch | None:
    """The periodic balance check (gauge and low-balance alert); None if it cannot run."""
    if services.account is None or services.alerts is None:
        return None
    settings = services.settings
    return BalanceWatch(
        services.account,
        services.alerts,
        every=settings.balance_check_every,
        alert_below=settings.balance_alert_below,
        timezone=settings.kimi_timezone,
    )


def _announce(settings: Settings, port: int, adapters: list[Adapter], *, demo: bool) -> None:
    """Tell the operator what is being served, and where to look first."""
    if demo:
        log.warning(DEMO_BANNER)
    if not settings.platform_configured:
        log.info(NO_PLATFORM_HINT)
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    host = f"[{shown}]" if ":" in shown else shown
    web = next((a for a in adapters if a.name == "web"), None)
    console = next((a for a in adapters if a.name == "admin"), None)
    platforms = [a for a in adapters if a.name not in ("web", "admin")]
    if web is not None and getattr(web, "enabled", False):
        log.info("web chat: open http://%s:%d/ in a browser", host, port)
    elif not platforms:
        log.warning("no chat to serve (WEB_CHAT=false and no platform configured)")
    if console is not None and getattr(console, "enabled", False):
        log.info("operator console: http://%s:%d/admin (sign in first)", host, port)


def _install_signal_handlers(stop: asyncio.Event, exit_within: float) -> None:
    """SIGINT/SIGTERM start the shutdown; a process still alive ``exit_within`` seconds later
    prints its stacks and exits (core.runtime.watch_the_exit)."""
    loop = asyncio.get_running_loop()

    def shut_down() -> None:
        if not stop.is_set():
            watch_the_exit(exit_within)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, shut_down)
        except (NotImplementedError, RuntimeError):
            pass
