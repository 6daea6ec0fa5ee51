"""Real ``kimi-bot run`` worker processes for the scaling tests, and what they need around them.

A :class:`Worker` is a subprocess with its own log file and port; :class:`TcpProxy` stands in
front of PostgreSQL or Redis so a test can take a dependency "down" and back up without touching
the shared server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from tests.support.polling import eventually

KIMI_BOT = str(Path(sys.executable).with_name("kimi-bot"))
_LISTENING = re.compile(r"HTTP server on http://[\d.]+:(\d+)")
_SCRUBBED = ("MOONSHOT_", "KIMI_", "TELEGRAM_", "SLACK_", "DATABASE_", "REDIS_", "WORKER_", "DB_")

T = TypeVar("T")


def worker_env(**settings: str | float | int) -> dict[str, str]:
    """The parent's environment without any kimi-bot setting, plus ``settings`` (as strings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env.update(HOST="127.0.0.1", PORT="0", LOG_LEVEL="INFO", KIMI_TOOLS="false")
    env.update({name.upper(): str(value) for name, value in settings.items()})
    return env


@dataclass
class Worker:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def get(self, path: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.url + path, timeout=aiohttp.ClientTimeout(total=10)) as response,
        ):
            return response.status, await response.text()

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:  # noqa: ASYNC109
        """Send ``sig`` and wait for the exit status. A worker stuck in its shutdown prints its
        stacks into the log (core.runtime.watch_the_exit), which a failure here shows."""
        if self.running:
            self.process.send_signal(sig)
        try:
            status = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} did not exit in {timeout:.0f}s\n{self.log()}"
            ) from None
        if status != 0:
            print(f"{self.name} exited with {status}:\n{self.log()[-20000:]}")
        return status

    async def kill(self) -> None:
        """``kill -9``: no drain, no cleanup, as in a crash."""
        if self.running:
            self.process.kill()
        await self.process.wait()


async def start_worker(
    name: str,
    env: dict[str, str],
    workdir: Path,
    *,
    ready: bool = True,
    timeout: float = 30,  # noqa: ASYNC109 - a deadline for two different waits
) -> Worker:
    """Start ``kimi-bot run``; return once it listens (and, with ``ready``, /readyz says 200)."""
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        KIMI_BOT, "run", env=env, cwd=workdir, stdout=log, stderr=asyncio.subprocess.STDOUT
    )
    log.close()
    worker = Worker(name, process, log_path)

    def listening() -> int:
        if not worker.running:
            raise AssertionError(f"{name} exited ({process.returncode}):\n{worker.log()[-3000:]}")
        found = _LISTENING.search(worker.log())
        return int(found.group(1)) if found else 0

    worker.port = await wait_for(listening, timeout, f"{name} to listen", worker)
    if ready:

        async def is_ready() -> bool:
            status, _ = await worker.get("/readyz")
            return status == 200

        await wait_for(is_ready, timeout, f"{name} to be ready", worker)
    return worker


async def wait_for(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 20,  # noqa: ASYNC109
    what: str = "condition",
    *workers: Worker,
) -> T:
    """Poll ``predicate`` until truthy; on timeout fail with the workers' log tails."""
    try:
        return await eventually(predicate, timeout=timeout, interval=0.05, what=what)
    except AssertionError as timed_out:
        logs = "\n".join(f"--- {w.name}:\n{w.log()[-2500:]}" for w in workers)
        raise AssertionError(f"{timed_out}\n{logs}") from None


@dataclass
class Fleet:
    """The workers a test started; all are killed at the end whatever happened."""

    workdir: Path
    base_env: dict[str, str]
    workers: list[Worker] = field(default_factory=list)
    on_start: Callable[[Worker], None] | None = None  # e.g. add it to the load balancer

    async def start(self, name: str, ready: bool = True, **settings: Any) -> Worker:
        env = dict(self.base_env)
        env.update({k.upper(): str(v) for k, v in settings.items()})
        worker = await start_worker(name, env, self.workdir, ready=ready)
        self.workers.append(worker)
        if self.on_start is not None:
            self.on_start(worker)
        return worker

    async def start_many(self, count: int, **settings: Any) -> list[Worker]:
        return list(
            await asyncio.gather(*(self.start(f"w{i + 1}", **settings) for i in range(count)))
        )

    async def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                await worker.kill()


async def create_database(admin_url: str) -> str:
    """A fresh, empty PostgreSQL database next to ``admin_url``'s; returns its URL."""
    import asyncpg

    name = f"kimi_scaling_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


async def drop_database(url: str) -> None:
    import asyncpg

    base, name = url.rsplit("/", 1)
    admin = base.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


class TcpProxy:
    """A loopback TCP forwarder; ``down()`` cuts every connection and refuses new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update({writer, up_writer})
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._pipes.discard(writer)
            writer.transport.abort()


@contextlib.asynccontextmanager
async def proxy_to(host: str, port: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(host, port)
    await proxy.up()
    try:
        yield proxy
    finally:
        await proxy.down()


class RoundRobin:
    """A tiny load balancer for Slack's events URL: each POST goes to the next worker's
    ``/slack/events`` with its body and signature headers untouched."""

    def __init__(self) -> None:
        self.workers: list[Worker] = []
        self.routed: list[str] = []  # which worker got each request, in order
        self._next = 0
        self._runner: Any = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/slack/events", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/slack/events"
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: Any) -> Any:
        from aiohttp import web

        live = [w for w in self.workers if w.running]
        if not live or self._session is None:
            return web.Response(status=503, text="no worker")
        worker = live[self._next % len(live)]
        self._next += 1
        self.routed.append(worker.name)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower().startswith(("x-slack", "content-"))
        }
        async with self._session.post(
            worker.events_url, data=await request.read(), headers=headers
        ) as response:
            return web.Response(status=response.status, body=await response.read())


def sample(metrics_text: str, name: str, **labels: str) -> float:
    """One sample's value from the Prometheus text format (0 if absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics_text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, value = line.rsplit(" ", 1)
        if series == name and not want:
            return float(value)
        if series.startswith(name + "{"):
            got = ",".join(sorted(series[len(name) + 1 : -1].split(",")))
            if got == want:
                return float(value)
    return 0.0
