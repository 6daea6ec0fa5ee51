"""The operator console at ``/admin``, on the same HTTP server as the web chat.

One adapter gathers the console's routes: the gate's (login, logout, one-time links), the
settings pages, and the dashboard (overview, usage and cost with the CSV export, live state,
quality, conversations). Every page needs an admin session (:mod:`bots.web.admin.auth`),
loopback included. When the gate cannot run (no ``ADMIN_TOKEN`` and no ``ADMINS``), every
console address answers with a page that says how to turn it on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from bots.http import Route
from bots.web.admin import layout
from bots.web.admin.auth import AdminGate
from bots.web.admin.pages_conversations import ConversationPages
from bots.web.admin.pages_live import LivePages
from bots.web.admin.pages_quality import QualityPages
from bots.web.admin.pages_usage import UsagePages
from bots.web.admin.settings_pages import SettingsPages
from core.console import Console
from core.service import Services
from core.vocabulary import ConversationKey

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AdminConsole:
    """The ``/admin`` adapter: routes, and a lifecycle beside the web chat's."""

    name = "admin"

    def __init__(
        self, services: Services, *, demo: bool = False, now: Callable[[], datetime] = _utcnow
    ) -> None:
        self._services = services
        self.gate = AdminGate(services, demo=demo)
        self.console = Console(services)
        self._now = now

    @property
    def enabled(self) -> bool:
        return bool(self.gate.enabled)

    @property
    def off_reason(self) -> str:
        return str(self.gate.off_reason)

    def routes(self) -> list[Route]:
        static: Route = ("GET", "/admin/static/{name}", layout.static)
        if not self.enabled:
            return [static, ("GET", "/admin", self._off), ("GET", "/admin/{tail:.*}", self._off)]
        console, gate, services = self.console, self.gate, self._services
        mine = [
            *UsagePages(console, gate, self._now).routes(),
            *LivePages(console, gate, services, self._now).routes(),
            *QualityPages(console, gate, self._now).routes(),
            *ConversationPages(
                console, gate, can_read=bool(services.settings.admin_can_read)
            ).routes(),
        ]
        settings = SettingsPages(services, gate).routes()
        return [static, *gate.routes(), *settings, *mine]

    async def start(self) -> None:
        if not self.enabled:
            log.info("%s", self.off_reason)
            return
        await self.gate.start()

    async def stop(self) -> None:
        """Nothing runs in the background: the pages read on request."""

    async def notify(self, key: ConversationKey, text: str) -> None:
        """The console is no chat: nothing to post into."""

    async def _off(self, _request: web.Request) -> web.Response:
        body = (
            '<h1>The operator console is off</h1><div class="off">'
            f"<p>{layout.esc(self.off_reason)}</p></div>"
        )
        return layout.page("Console off", body, session=None, status=403)
