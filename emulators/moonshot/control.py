"""``/_emulator/*``: the control API for tests that run the bot in another process (no auth)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulators.moonshot.scripts import Fault, ScriptedReply
from emulators.moonshot.state import EmulatorState


class ControlApi:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_emulator/faults", self.faults),
            web.post("/_emulator/replies", self.replies),
            web.get("/_emulator/requests", self.requests),
            web.post("/_emulator/reset", self.reset),
            web.get("/_emulator/stats", self.stats),
        ]

    async def faults(self, request: web.Request) -> web.Response:
        """One Fault object or a list of them, appended in order."""
        try:
            faults = [Fault.from_json(item) for item in await _items(request)]
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        self.state.faults.extend(faults)
        return web.json_response({"ok": True, "faults_pending": len(self.state.faults)})

    async def replies(self, request: web.Request) -> web.Response:
        """One ScriptedReply object or a list of them, queued in order."""
        try:
            replies = [ScriptedReply.from_json(item) for item in await _items(request)]
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        self.state.replies.extend(replies)
        return web.json_response({"ok": True, "replies_pending": len(self.state.replies)})

    async def requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.requests)

    async def reset(self, request: web.Request) -> web.Response:
        self.state.reset()
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.stats())


async def _items(request: web.Request) -> list[Any]:
    body = await request.json()
    return body if isinstance(body, list) else [body]


def _bad(message: str) -> web.Response:
    return web.json_response(
        {"error": {"type": "invalid_request_error", "message": message}}, status=400
    )
