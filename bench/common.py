"""Helpers for benchmarks: an emulator in a subprocess, timing, and printing results."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import sys
from collections.abc import AsyncIterator
from pathlib import Path

EMULATOR_KEY = "sk-bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def moonshot_subprocess(*extra: str) -> AsyncIterator[str]:
    """The Moonshot emulator in its own process, so it does not share our CPU time slices."""
    port = free_port()
    kimi_bot = str(Path(sys.executable).with_name("kimi-bot"))
    process = await asyncio.create_subprocess_exec(
        kimi_bot,
        "emulator",
        "--port",
        str(port),
        "--api-key",
        EMULATOR_KEY,
        *extra,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        await process.wait()


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1] if len(ordered) >= 20 else ordered[-1]
    return (
        f"median {statistics.median(samples) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, n={len(samples)}"
    )
