"""A finished web-chat answer is freed at once, not left for the cycle collector."""

from __future__ import annotations

import asyncio

from tests.support.garbage import cyclic_garbage
from tests.web.conftest import send


async def test_a_streamed_answer_leaves_no_reference_cycles(web_chat):
    async with web_chat() as chat:
        browser = chat.browser()
        await browser.get("/")
        await send(browser, "warm up")  # first-use caches are not garbage
        with cyclic_garbage() as leftovers:
            status, events = await send(browser, "stream an answer")
            await asyncio.sleep(0.2)
        assert status == 200 and [name for name, _ in events][-2:] == ["done", "end"]
        assert leftovers == {}
