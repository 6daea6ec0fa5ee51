"""With DATABASE_URL unset, memory lives in the user's data folder, whatever the current folder."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.common import clean_env, closed_port, kimi_bot


def test_conversations_are_remembered_across_folders(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    for folder in (first, second, third):
        folder.mkdir()
    result = kimi_bot("ask", "--emulator", "-c", "memo", "my name is Ada", env=env, cwd=first)
    assert result.returncode == 0, result.stderr
    result = kimi_bot("ask", "--emulator", "-c", "memo", "what is my name?", env=env, cwd=second)
    assert result.returncode == 0, result.stderr

    database = tmp_path / "xdg" / "kimi-bot" / "kimi_bot.db"
    assert database.is_file(), "the default database is in XDG_DATA_HOME/kimi-bot/"
    assert not list(first.iterdir()) and not list(second.iterdir()), "nothing in the cwd"

    report = kimi_bot(
        "usage", "--since", "all", "--by", "chat", "--format", "json", env=env, cwd=third
    )
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)["rows"]
    assert [(row["chat"], row["calls"]) for row in rows] == [("cli:memo", 2)], rows


def test_migrate_says_which_database(tmp_path: Path) -> None:
    result = kimi_bot("migrate", env=clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "xdg" / "kimi-bot" / "kimi_bot.db") in result.stdout


def test_doctor_says_where_the_data_lives(tmp_path: Path) -> None:
    result = kimi_bot("doctor", env=clean_env(tmp_path), cwd=tmp_path)
    database = tmp_path / "xdg" / "kimi-bot" / "kimi_bot.db"
    [data] = [line for line in result.stdout.splitlines() if line.split(":")[0].endswith(" data")]
    assert data.startswith("INFO  data: SQLite file ")
    assert f"SQLite file {database} (sqlite+aiosqlite:///{database})" in data
    assert "the default" in data
    assert database.parent.is_dir(), "the default folder is created on first use"


def test_doctor_hides_the_password_of_the_database_url(tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql://kimi:hunter2@127.0.0.1:{port}/kimi"
    result = kimi_bot("doctor", env=clean_env(tmp_path, DATABASE_URL=url), cwd=tmp_path)
    assert result.returncode == 1
    [data] = [line for line in result.stdout.splitlines() if line.startswith("INFO  data:")]
    assert f"postgresql+asyncpg://kimi:***@127.0.0.1:{port}/kimi, from DATABASE_URL" in data
    assert "hunter2" not in result.stdout + result.stderr
    assert not (tmp_path / "xdg").exists(), "no default folder when DATABASE_URL names one"


def test_an_empty_database_url_means_the_default(monkeypatch, tmp_path: Path) -> None:
    from core.config import default_database_url, load_settings

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("DATABASE_URL", "")
    settings = load_settings(_env_file=None)
    assert settings.database_url == default_database_url()
    assert settings.database_url.endswith(f"{tmp_path}/xdg/kimi-bot/kimi_bot.db")


def test_doctor_on_a_fresh_machine_reports_no_failure_for_the_new_database(
    tmp_path: Path,
) -> None:
    result = kimi_bot("doctor", env=clean_env(tmp_path), cwd=tmp_path)
    [database] = [line for line in result.stdout.splitlines() if " database:" in line]
    assert database.startswith("OK    database:")
    assert "the first `kimi-bot run`" in database


def test_doctor_says_whether_and_where_the_web_chat_is_served(tmp_path: Path) -> None:
    def web_line(**env: str) -> str:
        result = kimi_bot("doctor", env=clean_env(tmp_path, PORT="8080", **env), cwd=tmp_path)
        [line] = [line for line in result.stdout.splitlines() if " web chat:" in line]
        return line

    assert "http://127.0.0.1:8080/, open to this machine only" in web_line()
    assert "behind a login" in web_line(HOST="0.0.0.0", WEB_TOKEN="t0ken")
    off = web_line(HOST="0.0.0.0")
    assert off.startswith("INFO  web chat: off") and "WEB_TOKEN" in off
    assert "t0ken" not in web_line(HOST="0.0.0.0", WEB_TOKEN="t0ken")
    assert "off (WEB_CHAT=false)" in web_line(WEB_CHAT="false")
