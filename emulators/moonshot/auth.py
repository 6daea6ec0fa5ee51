"""Bearer-key check for every ``/v1`` endpoint, and JSON 404s for unknown ``/v1`` paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from emulators.moonshot import errors
from emulators.moonshot.state import EmulatorState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(
    state: EmulatorState,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v1"):
            return await handler(request)
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not state.key_ok(key.strip()):
            return errors.auth_error()
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return errors.not_found(f"Not found: {request.path}")
        except web.HTTPMethodNotAllowed:
            return errors.error_response(405, "invalid_request_error", "Method not allowed")

    return check
