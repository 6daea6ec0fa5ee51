"""``kimi-bot run`` with nothing configured: demo mode on the emulator, and the refusals."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.web.demo_server import KIMI_BOT, clean_env, demo_server


async def test_run_with_nothing_configured_serves_the_web_chat_in_demo_mode(tmp_path):
    async with demo_server(tmp_path) as server:
        assert "DEMO MODE" in server.output()
        assert f"web chat: open {server.url}/" in server.output()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{server.url}/") as page:
                assert page.status == 200
            async with http.get(f"{server.url}/api/session") as response:
                assert (await response.json())["demo"] is True
            async with http.post(
                f"{server.url}/api/messages",
                json={"text": "Is this the real Kimi?"},
                headers={"X-Kimi-Chat": "1"},
            ) as response:
                body = await response.text()
        assert "event: delta" in body and "event: done" in body
        assert "offline emulator" in body and "Is this the real Kimi?" in body
    assert (tmp_path / "data" / "kimi-bot").is_dir(), "data lives in the user's data folder"
    assert not list(tmp_path.glob("*.db")), "nothing written to the current folder"


async def test_a_platform_token_without_a_key_refuses_to_start(tmp_path):
    process = await asyncio.create_subprocess_exec(
        KIMI_BOT,
        "run",
        env=clean_env(tmp_path, TELEGRAM_BOT_TOKEN="123456:ABCDEF", PORT="0"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 2
    assert len(lines) == 1, lines
    assert "MOONSHOT_API_KEY" in lines[0] and "TELEGRAM_BOT_TOKEN" in lines[0]
    assert "123456:ABCDEF" not in err.decode() + out.decode()


async def test_demo_mode_hears_a_voice_message_through_the_emulator(tmp_path):
    """Demo mode points speech-to-text at the in-process emulator too (no STT_BASE_URL set)."""
    import io
    import wave

    recording = io.BytesIO()
    with wave.open(recording, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 12000)  # 1.5 s of silence
    async with demo_server(tmp_path) as server:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{server.url}/") as page:
                assert page.status == 200
            form = aiohttp.FormData()
            form.add_field(
                "file", recording.getvalue(), filename="hi.wav", content_type="audio/wav"
            )
            async with http.post(
                f"{server.url}/api/messages", data=form, headers={"X-Kimi-Chat": "1"}
            ) as response:
                body = await response.text()
    assert "1.5-second recording" in body, body
    assert "not enabled" not in body
    assert "event: done" in body and "offline emulator" in body
