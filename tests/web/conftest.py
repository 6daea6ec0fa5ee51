"""A running web chat: the real adapter on the real HTTP server, with the Moonshot emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bots.http import HttpServer, build_app
from bots.web import WebChatAdapter
from core.service import start_services
from tests.conftest import make_settings
from tests.support.browsers import BrowserPool


class WebChat(BrowserPool):
    """One server; ``browser()`` gives a client with its own cookie jar (a separate browser)."""

    def __init__(self, base_url: str, adapter: WebChatAdapter, services: Any) -> None:
        super().__init__(base_url)
        self.adapter = adapter
        self.services = services


@asynccontextmanager
async def running_web_chat(
    moonshot_url: str, database_url: str, **settings: object
) -> AsyncIterator[WebChat]:
    built = await start_services(make_settings(moonshot_url, database_url, **settings))
    adapter = WebChatAdapter(built, demo=False)
    server = HttpServer(build_app(built.db, adapter.routes()), "127.0.0.1", 0)
    await server.start()
    await adapter.start()
    chat = WebChat(f"http://127.0.0.1:{server.port}", adapter, built)
    try:
        yield chat
    finally:
        await chat.close()
        await adapter.stop()
        await server.stop()
        await built.close()


@pytest.fixture
def web_chat(moonshot: Any, sqlite_url: str) -> Callable[..., Any]:
    """``async with web_chat(host=..., web_token=...) as chat``: settings as keyword overrides."""

    def start(**settings: object) -> Any:
        return running_web_chat(moonshot.base_url, sqlite_url, **settings)

    return start


async def send(
    client: aiohttp.ClientSession,
    text: str | None = None,
    *,
    files: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
    header: bool = True,
) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """POST a message as the page does; returns the status and the server-sent events."""
    import json

    headers = {"X-Kimi-Chat": "1"} if header else {}
    if files:
        form = aiohttp.FormData()
        form.add_field("text", text or "")
        for name, data, mime in files:
            form.add_field("file", data, filename=name, content_type=mime)
        request = client.post("/api/messages", data=form, headers=headers)
    else:
        request = client.post("/api/messages", json={"text": text}, headers=headers)
    async with request as response:
        if response.content_type != "text/event-stream":
            return response.status, []
        body = await response.text()
    events = []
    for frame in body.split("\n\n"):
        if not frame.strip():
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return response.status, events


def texts_of(events: list[tuple[str, dict[str, Any]]], name: str) -> list[str]:
    return [data["text"] for event, data in events if event == name]
