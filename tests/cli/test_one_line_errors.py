"""A problem the user can fix is one line on stderr that says what and how, never a traceback.

Exit status 1: a dependency is down or busy (the database server, the port). Exit status 2: the
configuration is wrong (a folder in DATABASE_URL that does not exist, an empty question).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli.common import clean_env, closed_port, kimi_bot, one_line_error

COMMANDS = {
    "run": ["run"],
    "migrate": ["migrate"],
    "usage": ["usage"],
    "ask": ["ask", "hello", "--emulator"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_postgresql_down_is_one_line_exit_1(command: str, tmp_path: Path) -> None:
    port = closed_port()
    env = clean_env(tmp_path, DATABASE_URL=f"postgresql://kimi:hunter2@127.0.0.1:{port}/kimi")
    result = kimi_bot(*COMMANDS[command], env=env, cwd=tmp_path)
    line = one_line_error(result, status=1)
    assert line.startswith("kimi-bot: cannot connect to the database at ")
    assert f"127.0.0.1:{port}" in line
    assert "is the server running" in line
    assert "hunter2" not in result.stdout + result.stderr, "the password is hidden"


@pytest.mark.parametrize("command", COMMANDS)
def test_sqlite_folder_missing_is_one_line_exit_2(command: str, tmp_path: Path) -> None:
    folder = tmp_path / "no" / "such" / "dir"
    env = clean_env(tmp_path, DATABASE_URL=f"sqlite:///{folder}/kimi.db")
    result = kimi_bot(*COMMANDS[command], env=env, cwd=tmp_path)
    line = one_line_error(result, status=2)
    assert f"cannot open the SQLite database {folder}/kimi.db" in line
    assert f"the folder {folder} does not exist" in line
    assert "DATABASE_URL" in line
    assert not (tmp_path / "no").exists(), "a folder named in DATABASE_URL is never created"


def test_postgresql_unknown_database_is_a_configuration_error(
    postgres_url: str, tmp_path: Path
) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/kimi_bot_no_such_database"
    result = kimi_bot("migrate", env=clean_env(tmp_path, DATABASE_URL=url), cwd=tmp_path)
    line = one_line_error(result, status=2)
    assert "refused the connection" in line and "kimi_bot_no_such_database" in line
    assert "database name" in line


def test_run_on_a_busy_port_is_one_line_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(tmp_path, PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'kimi.db'}")
        result = kimi_bot("run", env=env, cwd=tmp_path)
    line = one_line_error(result, status=1)
    assert f"port {port} is in use" in line
    assert "set PORT" in line


@pytest.mark.parametrize("question", ["", "   \n\t"])
def test_ask_with_an_empty_question(question: str, tmp_path: Path) -> None:
    result = kimi_bot("ask", question, "--emulator", env=clean_env(tmp_path), cwd=tmp_path)
    line = one_line_error(result, status=2)
    assert "question is empty" in line
    assert result.stdout == ""
    assert not (tmp_path / "xdg").exists(), "refused before anything was opened"
