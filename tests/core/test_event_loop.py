"""The event loop every command runs on: uvloop where it is installed (``EVENT_LOOP=auto``),
asyncio's own on request or where uvloop is missing, and a one-line error for ``EVENT_LOOP=uvloop``
without it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core import event_loop
from core.event_loop import EventLoopUnavailable
from tests.cli.common import clean_env, kimi_bot, one_line_error


async def loop_name() -> str:
    return event_loop.running_loop_name()


def test_each_choice_runs_on_its_loop() -> None:
    assert event_loop.run(loop_name(), "asyncio") == "asyncio"
    assert event_loop.run(loop_name(), "uvloop") == "uvloop"
    assert event_loop.run(loop_name(), "auto") == "uvloop", "uvloop is a dependency on Linux"


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now fails
    assert event_loop.run(loop_name(), "auto") == "asyncio"
    with pytest.raises(EventLoopUnavailable, match="EVENT_LOOP=uvloop, but uvloop cannot be"):
        event_loop.loop_factory("uvloop")


def hidden_uvloop(tmp_path: Path) -> str:
    """A folder whose ``uvloop`` fails to import, for PYTHONPATH: uvloop is not installed."""
    package = tmp_path / "hide" / "uvloop"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('raise ImportError("no uvloop on this machine")\n')
    return str(package.parent)


def test_the_cli_on_each_loop_setting(tmp_path: Path) -> None:
    hide = hidden_uvloop(tmp_path)
    refused = kimi_bot(
        "usage", env=clean_env(tmp_path, EVENT_LOOP="uvloop", PYTHONPATH=hide), cwd=tmp_path
    )
    line = one_line_error(refused, status=2)
    assert "EVENT_LOOP=uvloop, but uvloop cannot be imported here" in line
    assert "no uvloop on this machine" in line and "EVENT_LOOP=auto" in line

    fallback = kimi_bot(
        "usage", env=clean_env(tmp_path, EVENT_LOOP="auto", PYTHONPATH=hide), cwd=tmp_path
    )
    assert fallback.returncode == 0, fallback.stderr

    unknown = kimi_bot("usage", env=clean_env(tmp_path, EVENT_LOOP="fastest"), cwd=tmp_path)
    assert "EVENT_LOOP" in one_line_error(unknown, status=2)
