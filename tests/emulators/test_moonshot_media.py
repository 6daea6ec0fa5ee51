"""The Moonshot emulator's media, driven by the real ``openai`` SDK over HTTP: vision models describe
each image (format, size, main colour, sha256 prefix), ``ms://`` images uploaded with purpose
``image``, image tokens by 14×14 tiles, and the OpenAI-compatible ``/v1/audio/transcriptions``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import time
import wave
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from PIL import Image

from emulators.moonshot import Fault, MoonshotEmulator, estimate_tokens

KEY = "sk-test"
VISION = "kimi-k2.5"
MB = 1024 * 1024


@pytest.fixture
async def emu() -> AsyncIterator[MoonshotEmulator]:
    async with MoonshotEmulator(api_key=KEY) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: MoonshotEmulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with sdk(emu) as c:
        yield c


def sdk(emulator: MoonshotEmulator, key: str = KEY, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=emulator.base_url, api_key=key, max_retries=0, **kw)


def picture(fmt: str, size: tuple[int, int], colour: str, frames: int = 1) -> bytes:
    """An image made with Pillow: ``frames`` > 1 makes an animated GIF."""
    buffer = io.BytesIO()
    image = Image.new("RGB", size, colour)
    if frames > 1:
        rest = [Image.new("RGB", size, colour) for _ in range(frames - 1)]
        rest[0].putpixel((0, 0), (0, 0, 0))  # frames must differ or Pillow merges them
        image.save(buffer, fmt, save_all=True, append_images=rest, duration=100)
    else:
        image.save(buffer, fmt)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "png") -> str:
    return f"data:image/{mime};base64," + base64.b64encode(data).decode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def asking(text: str, *urls: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return [{"role": "user", "content": parts}]


async def ask(
    client: openai.AsyncOpenAI, messages: list[dict[str, Any]], model: str = VISION
) -> Any:
    return await client.chat.completions.create(model=model, messages=messages, max_tokens=4000)


async def estimate(emu: MoonshotEmulator, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    url = f"{emu.base_url}/tokenizers/estimate-token-count"
    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


# -- vision: what the model sees -----------------------------------------------------------------


async def test_png_jpeg_webp_and_gif_are_described_exactly(client: openai.AsyncOpenAI) -> None:
    png = picture("PNG", (64, 32), "red")
    jpeg = picture("JPEG", (30, 20), "blue")
    webp = picture("WEBP", (15, 15), (0, 200, 0))
    gif = picture("GIF", (10, 10), "yellow", frames=3)
    urls = [data_url(png), data_url(jpeg, "jpeg"), data_url(webp, "webp"), data_url(gif, "gif")]
    result = await ask(client, asking("what are these?", *urls))
    assert result.choices[0].message.content.endswith(
        "I saw 4 images: "
        f"PNG 64×32, mostly red (sha256 {sha(png)}); "
        f"JPEG 30×20, mostly blue (sha256 {sha(jpeg)}); "
        f"WEBP 15×15, mostly green (sha256 {sha(webp)}); "
        f"GIF 10×10, 3 frames, mostly yellow (sha256 {sha(gif)})."
    )
    # one token per 14×14 tile: 5×3 + 3×2 + 2×2 + 1×1
    assert result.usage.prompt_tokens == estimate_tokens("what are these?") + 15 + 6 + 4 + 1


async def test_the_format_comes_from_the_bytes_not_the_data_url(
    client: openai.AsyncOpenAI,
) -> None:
    jpeg = picture("JPEG", (28, 28), "white")
    result = await ask(client, asking("and this?", data_url(jpeg, "png")))
    assert result.choices[0].message.content == (
        f"Echo ({VISION}): and this?\n\nI saw 1 image: JPEG 28×28, mostly white (sha256 {sha(jpeg)})."
    )


async def test_only_the_newest_message_is_described_but_all_images_cost_tokens(
    client: openai.AsyncOpenAI,
) -> None:
    old = picture("PNG", (140, 14), "black")
    new = picture("PNG", (14, 14), "purple")
    messages = [
        *asking("first", data_url(old)),
        {"role": "assistant", "content": "a black bar"},
        *asking("second", data_url(new)),
    ]
    result = await ask(client, messages)
    assert result.choices[0].message.content.endswith(
        f"I saw 1 image: PNG 14×14, mostly purple (sha256 {sha(new)})."
    )
    text = sum(estimate_tokens(t) for t in ("first", "a black bar", "second"))
    assert result.usage.prompt_tokens == text + 10 + 1


async def test_a_big_image_can_overflow_a_small_window(client: openai.AsyncOpenAI) -> None:
    big = picture("JPEG", (1400, 700), "grey")  # 100 × 50 tiles = 5,000 tokens
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="moonshot-v1-8k-vision-preview",
            messages=asking("look", data_url(big, "jpeg")),
            max_tokens=4000,
        )
    assert "exceeded model token limit: 8192" in caught.value.body["message"]


async def test_an_image_uploaded_with_purpose_image_is_seen_through_ms_url(
    client: openai.AsyncOpenAI, emu: MoonshotEmulator
) -> None:
    png = picture("PNG", (42, 14), "orange")
    uploaded = await client.files.create(file=("sunset.png", png), purpose="image")
    assert uploaded.purpose == "image" and uploaded.bytes == len(png)
    assert (await client.files.content(uploaded.id)).content == png
    result = await ask(client, asking("what is it?", f"ms://{uploaded.id}"))
    assert result.choices[0].message.content.endswith(
        f"I saw 1 image: PNG 42×14, mostly orange (sha256 {sha(png)})."
    )
    assert result.usage.prompt_tokens == estimate_tokens("what is it?") + 3
    status, body = await estimate(
        emu, {"model": VISION, "messages": asking("what is it?", f"ms://{uploaded.id}")}
    )
    assert status == 200 and body["data"]["total_tokens"] == result.usage.prompt_tokens


async def test_ms_urls_must_name_an_image_file(client: openai.AsyncOpenAI) -> None:
    text_file = await client.files.create(file=("a.txt", b"hello"), purpose="file-extract")
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(client, asking("see", f"ms://{text_file.id}"))
    assert caught.value.body["message"] == (
        "Invalid request: the image in the message at position 0 is invalid: the file "
        f"{text_file.id} was uploaded with purpose 'file-extract', not 'image'"
    )
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(client, asking("see", "ms://nosuchfile"))
    assert "the image file nosuchfile is not found" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.files.create(file=("fake.png", b"not a picture"), purpose="image")
    assert "the file is not a usable image" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.files.create(file=("a.png", b"x"), purpose="assistants")
    assert "purpose must be 'file-extract' or 'image'" in caught.value.body["message"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("data:image/png;base64,%%%not-base64%%%", "the image is not valid base64"),
        (data_url(b"\x89PNG\r\n\x1a\n" + bytes(64)), "the image could not be decoded"),
        (data_url(picture("PNG", (300, 300), "red")[:200]), "the image could not be decoded"),
        (data_url(picture("BMP", (8, 8), "red"), "bmp"), "unsupported image format bmp"),
    ],
    ids=["bad-base64", "garbage", "truncated", "bmp"],
)
async def test_corrupt_or_unsupported_images_are_400(
    client: openai.AsyncOpenAI, emu: MoonshotEmulator, url: str, reason: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(client, asking("what is this?", url))
    assert caught.value.body["type"] == "invalid_request_error"
    message = caught.value.body["message"]
    assert message.startswith("Invalid request: the image in the message at position 0 is invalid")
    assert reason in message
    status, body = await estimate(emu, {"model": VISION, "messages": asking("x", url)})
    assert status == 400 and reason in body["error"]["message"]


async def test_models_without_vision_refuse_images(client: openai.AsyncOpenAI) -> None:
    good = data_url(picture("PNG", (8, 8), "red"))
    for url in (good, data_url(b"corrupt")):
        with pytest.raises(openai.BadRequestError) as caught:
            await ask(client, asking("what is this?", url), model="kimi-k2")
        assert caught.value.body == {
            "type": "invalid_request_error",
            "message": "Invalid request: the model kimi-k2 does not support image input",
        }


async def test_estimate_token_count_counts_image_tiles(emu: MoonshotEmulator) -> None:
    png = picture("PNG", (29, 15), "red")  # 3 × 2 tiles
    messages = asking("how many tokens?", data_url(png), data_url(png))
    status, body = await estimate(emu, {"model": VISION, "messages": messages})
    assert status == 200
    assert body["data"]["total_tokens"] == estimate_tokens("how many tokens?") + 2 * 6


async def test_demo_mode_describes_images() -> None:
    png = picture("PNG", (20, 20), "blue")
    async with MoonshotEmulator(api_key=KEY, demo=True) as emulator, sdk(emulator) as c:
        result = await ask(c, asking("what is in the picture?", data_url(png)))
    content = result.choices[0].message.content
    assert content.startswith("*Demo mode")
    assert f"I saw 1 image: PNG 20×20, mostly blue (sha256 {sha(png)})." in content


# -- speech: /v1/audio/transcriptions ------------------------------------------------------------


def wav(seconds: float, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(bytes(2 * int(seconds * rate)))
    return buffer.getvalue()


def ogg_opus(seconds: float, pre_skip: int = 312) -> bytes:
    """The two Ogg pages a duration needs: OpusHead first, a last page with the granule."""

    def page(granule: int, payload: bytes) -> bytes:
        header = b"OggS\x00\x00" + struct.pack("<qIII", granule, 1, 0, 0)
        return header + bytes([1, len(payload)]) + payload

    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", pre_skip, 48_000, 0, 0)
    audio = bytes(range(40))
    return page(0, head) + page(int(seconds * 48_000) + pre_skip, audio)


async def transcribe(
    client: openai.AsyncOpenAI, data: bytes, name: str = "voice.wav", **kw: Any
) -> Any:
    return await client.audio.transcriptions.create(model="whisper-1", file=(name, data), **kw)


async def test_a_wav_is_transcribed_from_its_duration(
    client: openai.AsyncOpenAI, emu: MoonshotEmulator
) -> None:
    audio = wav(2.0)
    result = await transcribe(client, audio)
    assert result.text == f"(transcript of a 2.0-second recording, sha256 {sha(audio)})"
    assert result.usage is not None and result.usage.seconds == 2
    assert emu.transcriptions == [
        {
            "model": "whisper-1",
            "filename": "voice.wav",
            "size": len(audio),
            "response_format": "json",
            "language": "",
        }
    ]


async def test_text_and_verbose_json_formats(client: openai.AsyncOpenAI) -> None:
    audio = wav(1.5, rate=8_000)
    text = await transcribe(client, audio, response_format="text")
    assert text == f"(transcript of a 1.5-second recording, sha256 {sha(audio)})\n"
    verbose = await transcribe(client, audio, response_format="verbose_json", language="en")
    assert verbose.duration == 1.5 and verbose.language == "en"
    assert verbose.text == text.strip()
    assert verbose.segments and verbose.segments[0].end == 1.5
    unnamed = await transcribe(client, audio, response_format="verbose_json")
    assert unnamed.language == "english"


async def test_other_formats_name_their_size_and_hash(client: openai.AsyncOpenAI) -> None:
    audio = b"ID3" + bytes(range(200))  # an mp3-ish blob the emulator cannot measure
    result = await transcribe(client, audio, "song.mp3", response_format="verbose_json")
    assert result.text == f"(transcript of {len(audio)} bytes, sha256 {sha(audio)})"
    assert result.duration == 0.0 and result.usage is None
    voice = ogg_opus(3.0)
    note = await transcribe(client, voice, "voice.ogg", response_format="verbose_json")
    assert note.duration == 3.0
    assert note.text == f"(transcript of a 3.0-second recording, sha256 {sha(voice)})"


async def test_scripted_transcripts_come_in_order(
    client: openai.AsyncOpenAI, emu: MoonshotEmulator
) -> None:
    emu.enqueue_transcript("What is the weather in Paris?", duration=3.5, language="en")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emu.base_url.removesuffix('/v1')}/_emulator/transcripts",
            json=["你好", {"text": "second", "duration": 1}],
        ) as response,
    ):
        assert response.status == 200 and (await response.json())["transcripts_pending"] == 3
    first = await transcribe(client, b"opaque", "a.ogg", response_format="verbose_json")
    assert (first.text, first.duration, first.language) == (
        "What is the weather in Paris?",
        3.5,
        "en",
    )
    assert first.usage is not None and first.usage.seconds == 4
    assert (await transcribe(client, b"opaque", "b.ogg")).text == "你好"
    assert (await transcribe(client, b"opaque", "c.ogg", response_format="text")) == "second\n"
    assert (await transcribe(client, b"opaque", "d.ogg")).text.startswith("(transcript of 6 bytes")
    assert [r["filename"] for r in emu.transcriptions] == ["a.ogg", "b.ogg", "c.ogg", "d.ogg"]


async def test_speech_faults_hit_transcriptions_only(
    client: openai.AsyncOpenAI, emu: MoonshotEmulator
) -> None:
    emu.inject(Fault("stt_error"))
    emu.inject(Fault("stt_rate_limit"))
    chat = await client.chat.completions.create(
        model="kimi-k2", messages=[{"role": "user", "content": "hi"}]
    )
    assert chat.choices[0].message.content == "Echo (kimi-k2): hi"
    emu.enqueue_transcript("kept for the first answered request")
    with pytest.raises(openai.InternalServerError):
        await transcribe(client, wav(1.0))
    with pytest.raises(openai.RateLimitError):
        await transcribe(client, wav(1.0))
    assert (await transcribe(client, wav(1.0))).text == "kept for the first answered request"
    assert len(emu.transcriptions) == 3


async def test_a_slow_transcription_waits_and_can_time_out(emu: MoonshotEmulator) -> None:
    emu.inject(Fault("stt_slow", delay=0.4))
    async with sdk(emu) as c:
        started = time.monotonic()
        result = await transcribe(c, wav(1.0))
        assert time.monotonic() - started >= 0.4
        assert result.text.startswith("(transcript of a 1.0-second recording")
    emu.inject(Fault("stt_slow", delay=5))
    async with sdk(emu, timeout=0.3) as impatient:
        with pytest.raises(openai.APITimeoutError):
            await transcribe(impatient, wav(1.0))


async def test_empty_missing_or_unknown_format_is_400(
    client: openai.AsyncOpenAI, emu: MoonshotEmulator
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await transcribe(client, b"")
    assert caught.value.body["message"] == "Invalid request: the audio file is empty"
    with pytest.raises(openai.BadRequestError) as caught:
        await transcribe(client, wav(1.0), response_format="srt")
    assert "response_format 'srt' is not supported" in caught.value.body["message"]
    form = aiohttp.MultipartWriter("form-data")
    form.append("whisper-1").set_content_disposition("form-data", name="model")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emu.base_url}/audio/transcriptions",
            data=form,
            headers={"Authorization": f"Bearer {KEY}"},
        ) as response,
    ):
        assert response.status == 400
        assert "the 'file' field is required" in (await response.json())["error"]["message"]


async def test_files_over_25_mb_are_413(client: openai.AsyncOpenAI, emu: MoonshotEmulator) -> None:
    size = 25 * MB + 1
    with pytest.raises(openai.APIStatusError) as caught:
        await transcribe(client, bytes(size), "long.mp3")
    assert caught.value.status_code == 413
    assert caught.value.body["message"] == (
        f"Maximum content size limit ({25 * MB}) exceeded ({size} bytes read)"
    )
    assert emu.transcriptions[-1]["size"] == size
    assert (await transcribe(client, bytes(25 * MB), "just-fits.mp3")).text.startswith(
        f"(transcript of {25 * MB} bytes"
    )


async def test_transcriptions_need_the_key(emu: MoonshotEmulator) -> None:
    async with sdk(emu, key="sk-wrong") as stranger:
        with pytest.raises(openai.AuthenticationError):
            await transcribe(stranger, wav(1.0))
    assert emu.transcriptions == []


async def test_reset_forgets_transcripts_and_requests(
    client: openai.AsyncOpenAI, emu: MoonshotEmulator
) -> None:
    emu.enqueue_transcript("left over")
    await transcribe(client, b"abc", "x.ogg")
    emu.enqueue_transcript("never heard")
    emu.reset()
    assert emu.transcriptions == [] and emu.stats()["transcripts_pending"] == 0
    assert (await transcribe(client, b"abc", "x.ogg")).text.startswith("(transcript of 3 bytes")
