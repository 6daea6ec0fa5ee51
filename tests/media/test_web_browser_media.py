"""An image attached in the real page (headless Chromium, ``kimi-bot run`` in demo mode): the
picker shows it as an image, the sent message names it, and Kimi describes it."""

from __future__ import annotations

from tests.media.images import image
from tests.web.demo_server import demo_server
from tests.web.test_browser import _send, _watch_answer, browser_page  # noqa: F401 (fixture)


async def test_an_image_attached_in_the_page_is_named_and_seen(browser_page, tmp_path):  # noqa: F811
    page = browser_page
    async with demo_server(tmp_path) as server:
        await page.goto(f"{server.url}/")
        accept = await page.get_attribute("#file", "accept")
        assert accept is not None and "image/png" in accept and "audio/*" in accept
        assert ".docx" in accept, "documents are still offered"
        picture = image("PNG", (48, 32), "orange")
        await page.set_input_files(
            "#file", files=[{"name": "sunset.png", "mimeType": "image/png", "buffer": picture}]
        )
        assert "image: sunset.png" in await page.locator("#files").inner_text()
        await _send(page, "What colour is it?")
        seen = await _watch_answer(page, "real answers from Kimi")
        user = await page.locator(".msg.user").last.inner_text()
        assert user == "What colour is it?\n[image: sunset.png]"
        assert "mostly orange" in seen[-1], seen[-1]
