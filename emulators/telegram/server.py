"""HTTP front of the emulator: Bot API routing, token check, injected faults, file downloads.

URLs are Telegram's: ``/bot<token>/<method>`` (GET or POST, any method-name case) and
``/file/bot<token>/<file_path>``. Every API call is recorded before it is answered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from .errors import ApiError
from .methods import BotApi
from .models import ApiCall, ApiFailure, Fault
from .params import read_request
from .state import TelegramState

MAX_REQUEST_SIZE = 60 * 1024 * 1024


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


class BotApiServer:
    """Turns HTTP requests into BotApi calls and Bot API envelopes."""

    def __init__(self, state: TelegramState, api: BotApi) -> None:
        self.state = state
        self.api = api

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_SIZE)
        app.router.add_route("GET", "/file/{token}/{file_path:.+}", self.handle_file)
        app.router.add_route("*", "/{token}/{method}", self.handle_api)
        app.router.add_route("*", "/{tail:.*}", self.handle_unknown_path)
        return app

    async def handle_unknown_path(self, request: web.Request) -> web.Response:
        return _json(ApiError(404, "Not Found").payload(), status=404)

    def _fail(self, method: str, error: ApiError) -> web.Response:
        self.state.failures.append(
            ApiFailure(method, error.error_code, error.description, time.monotonic())
        )
        return _json(error.payload(), status=error.error_code)

    def _next_fault(self, method: str) -> Fault | None:
        for fault in self.state.faults:
            if fault.matches(method):
                fault.remaining -= 1
                return fault
        return None

    async def handle_api(self, request: web.Request) -> web.StreamResponse:
        token_part = request.match_info["token"]
        method = request.match_info["method"]
        if not token_part.startswith("bot"):
            return self._fail(method, ApiError(404, "Not Found"))
        if token_part[3:] != self.state.token:
            return self._fail(method, ApiError(401, "Unauthorized"))
        found = self.api.find(method)
        name = found[0] if found else method
        try:
            params, uploads = await read_request(request)
        except ApiError as error:
            self.state.calls.append(ApiCall(name, {}, time.monotonic()))
            return self._fail(name, error)
        recorded = dict(params)
        recorded.update(uploads)
        self.state.calls.append(ApiCall(name, recorded, time.monotonic()))

        fault = self._next_fault(name)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.kind == "network":
                return self._drop_connection(request, name)
            return self._fail(
                name, ApiError(fault.error_code, fault.description, retry_after=fault.retry_after)
            )
        if found is None:
            return self._fail(name, ApiError(404, "Not Found"))
        try:
            result = await found[1](params, uploads)
        except ApiError as error:
            return self._fail(name, error)
        return _json({"ok": True, "result": result})

    def _drop_connection(self, request: web.Request, method: str) -> web.StreamResponse:
        """Close the socket without an answer: the client sees a network error."""
        self.state.failures.append(ApiFailure(method, 0, "connection dropped", time.monotonic()))
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=500)  # never written: the socket is gone

    async def handle_file(self, request: web.Request) -> web.StreamResponse:
        token_part = request.match_info["token"]
        if token_part[3:] != self.state.token or not token_part.startswith("bot"):
            return _json(ApiError(404, "Not Found").payload(), status=404)
        stored = self.state.files_by_path.get(request.match_info["file_path"])
        if stored is None:
            return _json(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )
