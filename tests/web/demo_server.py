"""``kimi-bot run`` as a new user starts it: a separate process, nothing configured."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

KIMI_BOT = str(Path(sys.executable).with_name("kimi-bot"))
START_DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no key, no platform token, data under ``home``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MOONSHOT_", "KIMI_", "TELEGRAM_", "SLACK_", "WEB_", "DATABASE_"))
        and k not in ("HOST", "PORT", "REDIS_URL", "ADMINS", "ALLOWED_USERS", "ALLOWED_CHATS")
    }
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"))
    env.update(extra)
    return env


@dataclass
class RunningServer:
    url: str
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def wait_ready(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    """Until /readyz says ready (not merely /healthz): adapters and the worker are up."""
    deadline = asyncio.get_running_loop().time() + START_DEADLINE
    async with aiohttp.ClientSession() as http:
        while asyncio.get_running_loop().time() < deadline:
            if process.returncode is not None:
                output = await asyncio.to_thread(log.read_text)
                raise AssertionError(f"kimi-bot run exited: {output}")
            try:
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200 and (await response.json())["status"] == "ready":
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    output = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"kimi-bot run was not ready in {START_DEADLINE}s: {output}")


@asynccontextmanager
async def demo_server(tmp_path: Path, **env: str) -> AsyncIterator[RunningServer]:
    """``kimi-bot run`` with nothing configured (demo mode), in an empty folder."""
    port = free_port()
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            KIMI_BOT,
            "run",
            env=clean_env(tmp_path, PORT=str(port), **env),
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, process, log)
        yield RunningServer(url, process, log)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
