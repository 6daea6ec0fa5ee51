"""The Web API server: ``POST /api/{method}`` with token check, fault injection and rate limits."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import ApiError
from .faults import FaultInjector
from .ids import TsClock
from .limits import RateLimiter
from .params import read_params
from .state import ApiCall, Workspace

log = logging.getLogger(__name__)

Handler = Callable[["WebApi", dict[str, Any]], "dict[str, Any] | Awaitable[dict[str, Any]]"]

# Methods that take the app-level token (xapp-); every other method takes the bot token.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


@dataclass
class ApiConfig:
    """Behaviour switches the method handlers read."""

    bot_token: str
    app_token: str
    bot_name: str = "kimi"
    team_name: str = "Emulated Workspace"
    streaming_enabled: bool = True
    strict_stream_recipients: bool = True
    stream_lifetime: float = 300.0


class WebApi:
    """Dispatches Web API calls to handler functions and records every call."""

    def __init__(
        self,
        workspace: Workspace,
        config: ApiConfig,
        *,
        faults: FaultInjector,
        limiter: RateLimiter,
        clock: TsClock,
    ) -> None:
        self.ws = workspace
        self.config = config
        self.faults = faults
        self.limiter = limiter
        self.clock = clock
        self.calls: list[ApiCall] = []
        self.base_url = ""
        self.handlers: dict[str, Handler] = {}
        # Set by the emulator: where bot-originated events go (message echo), and the
        # Socket Mode URL factory for apps.connections.open.
        self.on_bot_event: Callable[[dict[str, Any]], None] | None = None
        self.open_socket_url: Callable[[], str] | None = None

    def register(self, handlers: dict[str, Handler]) -> None:
        self.handlers.update(handlers)

    def emit(self, event: dict[str, Any]) -> None:
        """Hand a bot-originated event to the event sender (no-op unless echo is on)."""
        if self.on_bot_event is not None:
            self.on_bot_event(event)

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = ApiCall(method=method, params={}, timestamp=time.time())
        self.calls.append(call)
        try:
            params = await read_params(request)
            token = _bearer(request) or params.get("token")
            call.params = {k: v for k, v in params.items() if k != "token"}
            handler = self.handlers.get(method)
            if handler is None:
                raise ApiError("unknown_method", extra={"req_method": method})
            self._check_token(method, token)
            injected = self.faults.take(method)
            if injected is not None:
                raise injected
            self.limiter.check(method, call.params)
            result = handler(self, call.params)
            if inspect.isawaitable(result):
                result = await result
            body: dict[str, Any] = {"ok": True, **result}
            call.response = body
            return web.json_response(body)
        except ApiError as err:
            call.status = err.status
            call.response = err.body()
            return web.json_response(err.body(), status=err.status, headers=err.headers)
        except Exception:
            # An emulator bug must surface as a failed call, not a hung or reset connection.
            log.exception("Slack emulator failed handling %s", method)
            call.status = 500
            call.response = {"ok": False, "error": "internal_error"}
            return web.json_response(call.response, status=500)

    def _check_token(self, method: str, token: str | None) -> None:
        if not token:
            raise ApiError("not_authed")
        if token not in (self.config.bot_token, self.config.app_token):
            raise ApiError("invalid_auth")
        wants_app = method in APP_TOKEN_METHODS
        if (token == self.config.app_token) != wants_app:
            raise ApiError("not_allowed_token_type")


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None
