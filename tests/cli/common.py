"""Run ``kimi-bot`` as a user does: a real subprocess, a clean environment, its own data folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

KIMI_BOT = str(Path(sys.executable).with_name("kimi-bot"))
_SCRUBBED = ("MOONSHOT_", "KIMI_", "TELEGRAM_", "SLACK_", "DATABASE_", "REDIS_", "DB_", "LOG_")


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """No kimi-bot setting from the machine; the default data folder inside ``tmp_path``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED) and k not in ("HOST", "PORT", "XDG_DATA_HOME")
    }
    env.update(
        XDG_DATA_HOME=str(tmp_path / "xdg"),  # never the real home's data folder
        MOONSHOT_API_KEY="sk-test",  # `run` without a key would be the demo mode
        MOONSHOT_BASE_URL="http://127.0.0.1:9/v1",  # nothing listens: no call leaves the machine
        HOST="127.0.0.1",
        PORT="0",
        KIMI_TOOLS="false",
    )
    env.update(settings)
    return env


def kimi_bot(
    *args: str, env: dict[str, str], cwd: Path, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KIMI_BOT, *args],
        env=env,
        cwd=cwd,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess[str], status: int) -> str:
    """The single stderr line of a failed command (asserting there is exactly one)."""
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stderr
    assert result.returncode == status, (result.returncode, result.stderr)
    return lines[0]


def closed_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
