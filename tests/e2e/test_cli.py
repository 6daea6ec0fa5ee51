"""The ``kimi-bot`` command as a user runs it: separate processes, real HTTP, real database."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp

from tests.conftest import EMULATOR_KEY

KIMI_BOT = str(Path(sys.executable).with_name("kimi-bot"))


def _env(moonshot_url: str, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOONSHOT_", "KIMI_"))}
    env.update(
        MOONSHOT_BASE_URL=moonshot_url,
        MOONSHOT_API_KEY=EMULATOR_KEY,
        DATABASE_URL=db_url,
        TELEGRAM_BOT_TOKEN="",
        SLACK_BOT_TOKEN="",
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


async def _run(
    *args: str, env: dict[str, str], cwd: Path, stdin: str | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        KIMI_BOT,
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    data = stdin.encode() if stdin is not None else None
    out, err = await asyncio.wait_for(process.communicate(data), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_ask_answers_and_remembers_across_processes(moonshot, db_url, tmp_path):
    env = _env(moonshot.base_url, db_url)
    code, out, _ = await _run(
        "ask", "my favourite colour is teal", "-c", "cli", env=env, cwd=tmp_path
    )
    assert code == 0
    assert "my favourite colour is teal" in out
    code, out, _ = await _run(
        "ask", "what is my favourite colour?", "-c", "cli", env=env, cwd=tmp_path
    )
    assert code == 0
    users = [m["content"] for m in moonshot.requests[-1]["messages"] if m["role"] == "user"]
    assert users == ["my favourite colour is teal", "what is my favourite colour?"]
    assistant = [m for m in moonshot.requests[-1]["messages"] if m["role"] == "assistant"]
    assert len(assistant) == 1 and "teal" in assistant[0]["content"]


async def test_chat_session_with_commands_and_memory(moonshot, sqlite_url, tmp_path):
    env = _env(moonshot.base_url, sqlite_url)
    script = "I keep bees\n/help\n/model moonshot-v1-32k\nwhat do I keep?\n"
    code, out, err = await _run("chat", "-c", "garden", env=env, cwd=tmp_path, stdin=script)
    assert code == 0, err
    assert "Echo (kimi-k2): I keep bees" in out
    assert "/reset — start a new conversation" in out
    assert "Model switched to moonshot-v1-32k." in out
    assert "Echo (moonshot-v1-32k): what do I keep?" in out
    users = [m["content"] for m in moonshot.requests[-1]["messages"] if m["role"] == "user"]
    assert users == ["I keep bees", "what do I keep?"]
    assert "Ctrl-D" in err


async def test_ask_model_switch_and_unknown_model(moonshot, sqlite_url, tmp_path):
    env = _env(moonshot.base_url, sqlite_url)
    code, _, _ = await _run("ask", "hi", "-m", "moonshot-v1-32k", env=env, cwd=tmp_path)
    assert code == 0 and moonshot.requests[-1]["model"] == "moonshot-v1-32k"
    code, _, err = await _run("ask", "hi", "-m", "gpt-5", env=env, cwd=tmp_path)
    assert code == 2 and "unknown model" in err and "kimi-k2" in err


async def test_auth_failure_is_one_clear_line_and_exit_1(moonshot, sqlite_url, tmp_path):
    env = _env(moonshot.base_url, sqlite_url, MOONSHOT_API_KEY="sk-wrong-key-000000000")
    code, out, err = await _run("ask", "hello", env=env, cwd=tmp_path)
    assert code == 1
    assert "API key was rejected" in err
    assert "sk-wrong-key-000000000" not in out + err
    assert len(moonshot.requests) == 0, "a 401 is not retried (and is rejected before recording)"


async def test_missing_key_and_bad_setting_stop_startup(tmp_path, sqlite_url):
    env = _env("http://127.0.0.1:9/v1", sqlite_url)
    env.pop("MOONSHOT_API_KEY")
    code, _, err = await _run("ask", "hello", env=env, cwd=tmp_path)
    assert code == 2 and "MOONSHOT_API_KEY" in err
    env = _env("http://127.0.0.1:9/v1", sqlite_url, PORT="not-a-port")
    code, _, err = await _run("ask", "hello", env=env, cwd=tmp_path)
    assert code == 2 and err.strip().splitlines()[-1].startswith("kimi-bot: invalid setting PORT")


async def test_ask_offline_with_builtin_emulator(tmp_path, sqlite_url):
    env = _env("http://127.0.0.1:9/v1", sqlite_url)
    env.pop("MOONSHOT_API_KEY")
    code, out, _ = await _run("ask", "offline hello", "--emulator", env=env, cwd=tmp_path)
    assert code == 0 and "offline hello" in out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _wait_for_status(
    http: aiohttp.ClientSession,
    url: str,
    process: asyncio.subprocess.Process,
    deadline: float,
) -> dict[str, object]:
    """Poll ``url`` until it answers 200 (its JSON body), the process exits, or the deadline."""
    loop = asyncio.get_running_loop()
    last = "no answer yet"
    while loop.time() < deadline:
        if process.returncode is not None:
            raise AssertionError(f"kimi-bot run exited with {process.returncode} before {url}")
        try:
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
                body = await response.json(content_type=None)
                if response.status == 200:
                    return body
                last = f"{response.status} {body}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 in time; last: {last}")


async def test_migrate_then_run_serves_health_checks(moonshot, sqlite_url, tmp_path):
    env = _env(moonshot.base_url, sqlite_url, PORT="0")
    code, out, _ = await _run("migrate", env=env, cwd=tmp_path)
    assert code == 0 and "up to date" in out

    port = _free_port()
    env["PORT"] = str(port)
    process = await asyncio.create_subprocess_exec(
        KIMI_BOT, "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    stderr = asyncio.create_task(process.stderr.read())  # drained all along: a full pipe blocks
    try:
        deadline = asyncio.get_running_loop().time() + 60
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            await _wait_for_status(http, f"{base}/healthz", process, deadline)
            # Ready comes later than alive (adapters and the first heartbeat): wait for it.
            ready = await _wait_for_status(http, f"{base}/readyz", process, deadline)
            assert ready["database"] == "ok"
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 20)
        err = (await asyncio.wait_for(stderr, 5)).decode()
    assert process.returncode == 0, err
    assert "TELEGRAM_BOT_TOKEN" in err and "SLACK_BOT_TOKEN" in err


async def test_ask_with_files_reads_them_into_the_conversation(moonshot, sqlite_url, tmp_path):
    from tests.documents.samples import pdf
    from tests.support.requests import document_contents

    report = tmp_path / "report.pdf"
    report.write_bytes(pdf("Owl budget 2027", "The owl budget is 4812 mice."))
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nNests are checked every May.\n", encoding="utf-8")
    env = _env(moonshot.base_url, sqlite_url)

    code, out, err = await _run(
        "ask", "What is the owl budget?", "-f", str(report), "--file", str(notes),
        "-c", "docs", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    assert "“report.pdf”" in out and "“notes.md”" in out, "each file is acknowledged"
    documents = document_contents(moonshot.requests[-1])
    assert "4812 mice" in documents["report.pdf"]
    assert "checked every May" in documents["notes.md"]

    code, _, err = await _run(
        "ask", "and when are nests checked?", "-c", "docs", env=env, cwd=tmp_path
    )
    assert code == 0, err
    assert set(document_contents(moonshot.requests[-1])) == {"report.pdf", "notes.md"}, (
        "the documents stay in the conversation"
    )

    code, _, _ = await _run("ask", "", "-f", str(notes), "-c", "summary", env=env, cwd=tmp_path)
    assert code == 0, "a file without a question asks for a summary"
    assert "Summarize" in moonshot.requests[-1]["messages"][-1]["content"]


async def test_ask_with_a_missing_file_is_one_line(moonshot, sqlite_url, tmp_path):
    env = _env(moonshot.base_url, sqlite_url)
    calls = len(moonshot.requests)
    code, _, err = await _run("ask", "read it", "-f", "absent.pdf", env=env, cwd=tmp_path)
    assert code == 2
    assert err.strip().splitlines() == ["kimi-bot ask: no such file: absent.pdf"]
    assert len(moonshot.requests) == calls
