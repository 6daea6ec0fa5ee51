"""Web chat uploads of images and audio over real HTTP (multipart, as the page sends them)."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bots.web.uploads import BadMessage, read_message
from core.attachment_kinds import AUDIO, IMAGE, kind_of
from tests.media.images import OGG, image, image_parts, recorder
from tests.web.conftest import send, texts_of


async def test_image_and_audio_uploads_reach_the_core(web_chat, moonshot):
    async with web_chat() as chat:
        seen = recorder(chat.services)
        client = chat.browser()
        async with client.get("/") as page:
            html = await page.text()
        assert 'accept="image/png,image/jpeg,image/webp,image/gif,audio/*' in html
        picture = image("PNG", (30, 20), "purple")
        status, events = await send(
            client, "What is in the picture?", files=[("drawing.png", picture, "image/png")]
        )
        assert status == 200
        assert [url.split(";")[0] for url in image_parts(moonshot)] == ["data:image/png"]
        assert "mostly purple" in texts_of(events, "done")[0]
        status, _ = await send(client, "", files=[("memo.ogg", OGG, "audio/ogg")])
        assert status == 200
        assert [(i.text, f) for i, f in seen] == [
            ("What is in the picture?", [picture]),
            ("", [OGG]),
        ]
        kinds = [(a.name, a.mime_type, kind_of(a)) for i, _ in seen for a in i.attachments]
        assert kinds == [("drawing.png", "image/png", IMAGE), ("memo.ogg", "audio/ogg", AUDIO)]


async def test_images_have_their_own_size_limit():
    async def endpoint(request: web.Request) -> web.Response:
        try:
            message = await read_message(request, max_file_bytes=100_000, max_image_bytes=1024)
        except BadMessage as problem:
            return web.json_response({"error": str(problem)}, status=problem.status)
        return web.json_response({"names": [a.name for a in message.attachments]})

    app = web.Application()
    app.router.add_post("/", endpoint)
    async with TestServer(app) as server, aiohttp.ClientSession() as client:

        async def post(name: str, data: bytes, mime: str) -> tuple[int, dict]:
            form = aiohttp.FormData()
            form.add_field("file", data, filename=name, content_type=mime)
            async with client.post(server.make_url("/"), data=form) as response:
                return response.status, await response.json()

        big_picture = image("PNG", (400, 400), "white") + bytes(2048)
        status, body = await post("big.png", big_picture, "image/png")
        assert status == 413 and "big.png" in body["error"]
        status, body = await post("notes.txt", b"n" * 5000, "text/plain")
        assert status == 200 and body["names"] == ["notes.txt"], "documents keep their limit"


async def test_the_web_chat_applies_image_max_bytes(web_chat):
    async with web_chat(image_max_bytes=2048) as chat:
        client = chat.browser()
        await client.get("/")
        async with client.get("/api/session") as response:
            assert (await response.json())["max_image_bytes"] == 2048
        big = image("PNG", (300, 300), "white") + bytes(4096)
        status, _ = await send(client, "look", files=[("big.png", big, "image/png")])
        assert status == 413
