"""The HTTP server every deployment runs: health, readiness, metrics, and the platform webhooks.

- ``GET /healthz``: the process is alive (no dependency checked: a restart would not help).
- ``GET /readyz``: the database and Redis (when configured) answer; 503 naming what is down, so
  a load balancer sends no traffic to a worker that could not serve it.
- ``GET /metrics``: Prometheus text format (:mod:`core.metrics`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from core import metrics

log = logging.getLogger(__name__)

Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]
Check = tuple[str, Callable[[], Awaitable[object]]]

CHECK_TIMEOUT = 3.0  # a dependency that hangs is as down as one that refuses


class Pingable(Protocol):
    async def ping(self) -> object: ...


def readiness_checks(db: Pingable, redis: object | None = None) -> list[Check]:
    """The dependencies a worker needs to serve: the database, and Redis when configured."""
    checks: list[Check] = [("database", db.ping)]
    if redis is not None:
        checks.append(("redis", redis.ping))  # type: ignore[attr-defined]
    return checks


async def _state(check: Callable[[], Awaitable[object]]) -> str | None:
    """None when the check passed, else a short reason (never a secret-bearing message)."""
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return type(exc).__name__
    return None


def build_app(
    db: Pingable, routes: list[Route] | None = None, *, checks: list[Check] | None = None
) -> web.Application:
    app = web.Application(client_max_size=32 * 1024 * 1024)
    readiness = checks if checks is not None else readiness_checks(db)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        names = [name for name, _ in readiness]
        states = await asyncio.gather(*(_state(check) for _, check in readiness))
        body: dict[str, object] = {
            name: "ok" if state is None else "down"
            for name, state in zip(names, states, strict=True)
        }
        down = [name for name, state in zip(names, states, strict=True) if state is not None]
        if down:
            reasons = ", ".join(
                f"{name}: {state}" for name, state in zip(names, states, strict=True) if state
            )
            log.warning("readiness check failed: %s", reasons)
            body.update(status="unavailable", down=down)
            return web.json_response(body, status=503)
        body["status"] = "ready"
        return web.json_response(body)

    async def metrics_endpoint(_request: web.Request) -> web.Response:
        payload, content_type = metrics.render()
        return web.Response(body=payload, headers={"Content-Type": content_type})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    for method, path, handler in routes or []:
        app.router.add_route(method, path, handler)
    return app


class CannotListen(OSError):
    """The HTTP server could not listen on HOST:PORT (the address is not ours, no permission…)."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.host = host
        self.port = port


class PortInUse(CannotListen):
    """Another process already listens on HOST:PORT (EADDRINUSE)."""


class HttpServer:
    """aiohttp on our own event loop, so adapters and the server share one process."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port
        self.port = port

    async def start(self) -> None:
        """Listen on HOST:PORT; :class:`PortInUse` (or :class:`CannotListen`) when that fails."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            cls = PortInUse if exc.errno == errno.EADDRINUSE else CannotListen
            raise cls(self._host, self._port, exc) from exc
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self._runner.cleanup()
