"""The transcriber against servers that differ from OpenAI's: one that refuses verbose_json
(gpt-4o-transcribe does), one that is down, one that rejects the key; and the doctor's line."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bots.doctor import FAIL, OK, SKIP, check_speech
from core.speech import Transcriber, TranscriptionFailed
from tests.conftest import EMULATOR_KEY, make_settings
from tests.speech.audio import Voice, wav


class JsonOnlyServer:
    """An OpenAI-compatible STT server without verbose_json and without GET /models."""

    def __init__(self) -> None:
        self.formats: list[str] = []
        self.names: list[str] = []
        self.authorization: list[str] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def transcribe(self, request: web.Request) -> web.Response:
        self.authorization.append(request.headers.get("Authorization", ""))
        fields: dict[str, str] = {}
        async for part in await request.multipart():
            if part.name == "file":
                self.names.append(part.filename or "")
                await part.read()
            else:
                fields[part.name or ""] = await part.text()
        response_format = fields.get("response_format", "json")
        self.formats.append(response_format)
        if response_format == "verbose_json":
            return web.json_response(
                {"error": {"message": "response_format 'verbose_json' is not compatible"}},
                status=400,
            )
        return web.json_response({"text": "  plain words  "})

    async def __aenter__(self) -> JsonOnlyServer:
        app = web.Application()
        app.router.add_post("/v1/audio/transcriptions", self.transcribe)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def json_only() -> AsyncIterator[JsonOnlyServer]:
    async with JsonOnlyServer() as server:
        yield server


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_server_refusing_verbose_json_is_asked_for_json_from_then_on(
    json_only: JsonOnlyServer,
) -> None:
    transcriber = Transcriber(base_url=json_only.base_url)  # no key: a dummy one is sent
    try:
        first = await transcriber.transcribe(Voice(wav(1.0), name="memo").attachment)
        second = await transcriber.transcribe(Voice(wav(0.5), mime="audio/mpeg").attachment)
    finally:
        await transcriber.close()

    assert (first.text, first.duration) == ("plain words", None)  # the platform's duration then
    assert second.text == "plain words"
    assert json_only.formats == ["verbose_json", "json", "json"]
    assert json_only.names == ["memo.wav", "memo.wav", "voice.wav"]
    assert json_only.authorization[0] == "Bearer not-needed"


async def test_an_unreachable_server_is_a_failure_naming_it() -> None:
    base = f"http://127.0.0.1:{closed_port()}/v1"
    transcriber = Transcriber(base_url=base, api_key="sk-secret-stt-key")
    try:
        with pytest.raises(TranscriptionFailed) as failure:
            await transcriber.transcribe(Voice(wav(1.0)).attachment)
    finally:
        await transcriber.close()
    assert failure.value.reason.startswith(f"cannot reach {base}")
    assert failure.value.values == {"detail": "unreachable"}
    assert "sk-secret" not in failure.value.reason


async def test_a_rejected_key_fails_with_its_status(moonshot: Any) -> None:
    transcriber = Transcriber(base_url=moonshot.base_url, api_key="sk-wrong-key")
    try:
        with pytest.raises(TranscriptionFailed) as failure:
            await transcriber.transcribe(Voice(wav(1.0)).attachment)
    finally:
        await transcriber.close()
    assert failure.value.status == 401
    assert "HTTP 401" in failure.value.reason and "sk-wrong-key" not in failure.value.reason


async def test_doctor_says_whether_voice_is_on_and_reachable(
    moonshot: Any, json_only: JsonOnlyServer, sqlite_url: str
) -> None:
    off = await check_speech(make_settings(moonshot.base_url, sqlite_url))
    assert off.status == SKIP and "STT_BASE_URL not set" in off.detail

    on = await check_speech(
        make_settings(
            moonshot.base_url,
            sqlite_url,
            stt_base_url=moonshot.base_url,
            stt_api_key=EMULATOR_KEY,
        )
    )
    assert on.status == OK and f"{moonshot.base_url} reachable" in on.detail
    assert "voice up to 600s and 25.0 MB" in on.detail

    bare = await check_speech(
        make_settings(moonshot.base_url, sqlite_url, stt_base_url=json_only.base_url)
    )
    assert bare.status == OK and "lists no models; whisper-1 assumed" in bare.detail
    assert json_only.formats == []  # no audio sent: nothing billed

    wrong = await check_speech(
        make_settings(
            moonshot.base_url, sqlite_url, stt_base_url=moonshot.base_url, stt_api_key="sk-x"
        )
    )
    assert wrong.status == FAIL and "rejected STT_API_KEY" in wrong.detail

    down = await check_speech(
        make_settings(
            moonshot.base_url, sqlite_url, stt_base_url=f"http://127.0.0.1:{closed_port()}/v1"
        )
    )
    assert down.status == FAIL and "cannot reach" in down.detail
