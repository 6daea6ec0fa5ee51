"""The web chat in a real browser: headless Chromium (Debian's) driven by Playwright, against
``kimi-bot run`` in demo mode exactly as a new user starts it."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core import command_registry
from tests.conftest import REQUIRE_SERVICES
from tests.documents.samples import DOCX_MIME, docx
from tests.web.demo_server import demo_server

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """KIMI_CHROMIUM, else Debian's /usr/bin/chromium; skip (fail in CI) where there is none."""
    path = os.environ.get("KIMI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        reason = "browser tests need Debian's chromium (apt-get install chromium) or KIMI_CHROMIUM"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture
async def browser_page(tmp_path: Path) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            page = await context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            await browser.close()


async def _send(page, text: str) -> None:  # type: ignore[no-untyped-def]
    await page.fill("#text", text)
    await page.keyboard.press("Enter")


async def _watch_answer(page, final_marker: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Every distinct text the newest answer showed until it contained ``final_marker``."""
    seen: list[str] = []
    deadline = asyncio.get_running_loop().time() + 20
    while asyncio.get_running_loop().time() < deadline:
        text = await page.evaluate(
            "() => { const a = [...document.querySelectorAll('.msg.assistant')].pop();"
            " return a ? a.innerText : null; }"
        )
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if text and final_marker in text and await page.is_enabled("#send"):
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"no complete answer; saw {seen[-1:]!r}")


async def test_a_new_user_chats_in_the_browser(browser_page, tmp_path):
    page = browser_page
    async with demo_server(tmp_path) as server:
        await page.goto(f"{server.url}/")
        banner = page.locator("#demo")
        await banner.wait_for(state="visible")
        assert "demo: answers come from the offline emulator" in await banner.inner_text()

        # Type, and see the answer stream in: several growing states before the last one.
        await _send(page, "Hello Kimi, what is the capital of Australia?")
        seen = await _watch_answer(page, "real answers from Kimi")
        final = seen[-1]
        assert "Hello Kimi, what is the capital of Australia?" in final
        partial = [text for text in seen[:-1] if len(text) < len(final)]
        assert len(partial) >= 2, f"the answer appeared at once, not streamed: {seen}"

        # Reload: the conversation is still there (the cookie names it).
        await page.reload()
        await page.locator(".msg.user").first.wait_for()
        users = await page.locator(".msg.user").all_inner_texts()
        assert users == ["Hello Kimi, what is the capital of Australia?"]
        assert await page.locator(".msg.assistant").count() == 1

        # Upload a DOCX and ask about it.
        await page.set_input_files(
            "#file",
            files=[
                {
                    "name": "owls.docx",
                    "mimeType": DOCX_MIME,
                    "buffer": docx("Snowy owls nest on the Arctic tundra in May."),
                }
            ],
        )
        await _send(page, "Where do snowy owls nest?")
        await page.locator(".msg.system", has_text="owls.docx").wait_for()
        seen = await _watch_answer(page, "real answers from Kimi")
        assert "owls.docx" in seen[-1] and "Arctic tundra" in seen[-1]

        # Whatever a user types is shown as text, never run as HTML.
        attack = '<img src=x onerror="window.pwned=1"><b>not bold</b>'
        await _send(page, attack)
        await _watch_answer(page, "not bold")
        assert (await page.locator(".msg.user").last.inner_text()) == attack
        assert await page.evaluate("() => window.pwned === undefined")
        assert await page.locator("#messages img, #messages .msg.user b").count() == 0

        # /reset: a new conversation; the page and, after a reload, the history are empty.
        await _send(page, "/reset")
        await page.locator(".msg.system").last.wait_for()
        await page.wait_for_function("() => !document.querySelector('.msg.assistant')")
        await page.reload()
        await page.locator("#empty").wait_for(state="visible")
        assert await page.locator(".msg").count() == 0


async def test_the_command_hints_follow_what_is_typed(browser_page, tmp_path):
    page = browser_page
    async with demo_server(tmp_path) as server:
        await page.goto(f"{server.url}/")
        hints = page.locator("#hints")
        await page.wait_for_function("() => $('hints').textContent.includes('/search')")
        names = " ".join(f"/{spec.name}" for spec in command_registry.offered(group=False))
        assert await hints.inner_text() == names

        await page.fill("#text", "/mo")
        await page.wait_for_function("() => $('hints').textContent.includes('[id]')")
        assert await hints.inner_text() == "/model [id] — show the model, or switch to another one"

        await page.fill("#text", "/forget 2")
        await page.wait_for_function("() => $('hints').textContent.includes('N|all')")
        await page.fill("#text", "hello")
        await page.wait_for_function("() => $('hints').textContent.includes('/search')")


async def test_a_thinking_models_reasoning_is_folded_apart_from_the_answer(browser_page, tmp_path):
    page = browser_page
    async with demo_server(tmp_path) as server:
        await page.goto(f"{server.url}/")
        await page.locator("#demo").wait_for(state="visible")
        await _send(page, "/model kimi-k2-thinking")
        await page.locator(".msg.system", has_text="kimi-k2-thinking").wait_for()

        await _send(page, "Why is the sky blue?")
        block = page.locator(".msg.assistant details.thinking")
        await block.wait_for()
        await _watch_answer(page, "real answers from Kimi")

        reasoning = await block.locator(".reasoning").text_content()
        assert "The user asks" in (reasoning or ""), "the reasoning is inside the block"
        assert (await block.locator("summary").inner_text()).startswith("Thought for ")
        assert await block.get_attribute("open") is None, "folded until the user opens it"
        answer = await page.locator(".msg.assistant .body").last.inner_text()
        assert "Why is the sky blue?" in answer
        assert "The user asks" not in answer, "the reasoning is never part of the answer"
