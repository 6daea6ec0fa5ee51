"""``/_emulator/*``: the control API for tests that run the bot in another process (no auth)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulators.moonshot.scripts import Fault, ScriptedReply, ScriptedTranscript
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
            web.post("/_emulator/balance", self.balance),
            web.post("/_emulator/served_models", self.served_models),
            web.post("/_emulator/transcripts", self.transcripts),
            web.get("/_emulator/transcriptions", self.transcriptions),
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

    async def transcripts(self, request: web.Request) -> web.Response:
        """One transcript (a string or ``{"text", "duration", "language"}``) or a list, queued."""
        try:
            scripts = [ScriptedTranscript.from_json(item) for item in await _items(request)]
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        self.state.transcripts.extend(scripts)
        return web.json_response({"ok": True, "transcripts_pending": len(self.state.transcripts)})

    async def transcriptions(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.transcriptions)

    async def requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.requests)

    async def reset(self, request: web.Request) -> web.Response:
        self.state.reset()
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.stats())

    async def balance(self, request: web.Request) -> web.Response:
        """``{"cash_balance": x, "voucher_balance": y}`` (either may be left out)."""
        try:
            body = await request.json()
            if not isinstance(body, dict) or set(body) - set(BALANCE_KEYS):
                raise ValueError(f"expected an object with {' and/or '.join(BALANCE_KEYS)}")
            values = {BALANCE_KEYS[key]: _amount(key, value) for key, value in body.items()}
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        self.state.set_balance(**values)
        return web.json_response({"ok": True, "balance": self.state.balance.to_json()})

    async def served_models(self, request: web.Request) -> web.Response:
        """``{"models": [ids]}`` serves only those catalog models; ``{"models": null}`` all."""
        try:
            body = await request.json()
            models = body.get("models") if isinstance(body, dict) else body
            if models is not None and (
                not isinstance(models, list) or not all(isinstance(m, str) for m in models)
            ):
                raise ValueError("'models' must be a list of model ids or null")
            self.state.serve(models)
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        return web.json_response({"ok": True, "served_models": self.state.served_models})


async def _items(request: web.Request) -> list[Any]:
    body = await request.json()
    return body if isinstance(body, list) else [body]


BALANCE_KEYS = {"cash_balance": "cash", "voucher_balance": "voucher"}


def _amount(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    return float(value)


def _bad(message: str) -> web.Response:
    return web.json_response(
        {"error": {"type": "invalid_request_error", "message": message}}, status=400
    )
