"""Access and settings in a real browser (Debian's headless Chromium through Playwright): sign in
with ADMIN_TOKEN (a wrong one is refused), set a user's budget on the settings page and see the
web chat refuse that user's next question, close the allow-list, and a cross-site form that
tries to change a budget is refused (from another site and from another origin)."""

from __future__ import annotations

from aiohttp import web

from bots.http import HttpServer
from bots.web.sessions import COOKIE as CHAT_COOKIE
from tests.admin.auth_support import ADMIN_TOKEN, new_page

REFUSED = "You have used your daily budget"
NOT_ALLOWED = "this bot is private"


async def _ask(page, base_url: str, text: str) -> str:  # type: ignore[no-untyped-def]
    """Send ``text`` in the web chat; the newest bubble's text once the page is idle again."""
    await page.goto(f"{base_url}/")
    await page.wait_for_function("() => !document.querySelector('#send').disabled")
    before = await page.locator(".msg").count()
    await page.fill("#text", text)
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "n => document.querySelectorAll('.msg').length >= n + 2"
        " && !document.querySelector('#send').disabled",
        arg=before,
    )
    return await page.locator(".msg").last.inner_text()


async def _sign_in(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(f"{base_url}/admin/settings")
    assert page.url.endswith("/admin/login"), "the console asks for a login first"
    await page.fill("input[name=token]", "a wrong token")
    await page.click("form.login button[type=submit]")
    await page.locator(".error", has_text="That token is not right.").wait_for()
    await page.fill("input[name=token]", ADMIN_TOKEN)
    await page.click("form.login button[type=submit]")
    await page.wait_for_url(f"{base_url}/admin")


async def test_a_budget_changed_in_the_browser_is_enforced_in_the_chat(browser, admin_console):
    async with admin_console() as running:
        base = running.base_url
        page = await new_page(browser)
        assert REFUSED not in await _ask(page, base, "What is 2 + 2?")
        [cookie] = [c for c in await page.context.cookies() if c["name"] == CHAT_COOKIE]
        user = f"web:{running.chat._cookies._serializer.loads(cookie['value'])['id']}"

        await _sign_in(page, base)
        await page.goto(f"{base}/admin/settings")
        form = page.locator("#budget-form")
        await form.locator("input[name=user]").fill(user)
        await form.locator("input[name=daily]").fill("0")
        await form.locator("button[type=submit]").click()
        await page.locator(".notice", has_text="Budget saved.").wait_for()
        assert user in await page.locator("#budgets").inner_text()

        assert REFUSED in await _ask(page, base, "And 3 + 3?")

        await page.goto(f"{base}/admin/audit")
        audit = await page.locator("main").inner_text()
        assert f"budget set\t{user}: daily 0, monthly default" in audit
        assert "login" in audit

        await page.goto(f"{base}/admin/settings")
        await page.locator("#budgets form.row-action button").click()
        await page.locator(".notice", has_text="Budget removed").wait_for()
        assert REFUSED not in await _ask(page, base, "And 4 + 4?")

        # The allow-list: one entry for someone else closes the bot to this user.
        await page.goto(f"{base}/admin/settings")
        form = page.locator("#access-form")
        await form.locator("input[name=value]").fill("telegram:5")
        await form.locator("button[type=submit]").click()
        await page.locator(".notice", has_text="Added to the allow-list.").wait_for()
        assert NOT_ALLOWED in await _ask(page, base, "Still there?")


async def test_a_form_on_another_site_cannot_change_a_budget(browser, admin_console):
    async with admin_console() as running:
        base = running.base_url
        target = f"{base}/admin/settings/budgets"
        attack = (
            "<!doctype html><html><body>"
            f'<form id="f" method="post" action="{target}">'
            '<input name="csrf" value="guessed"><input name="user" value="telegram:1">'
            '<input name="daily" value="0"><input name="action" value="save"></form>'
            "<script>document.getElementById('f').submit()</script></body></html>"
        )

        async def evil(_request: web.Request) -> web.Response:
            return web.Response(text=attack, content_type="text/html")

        app = web.Application()
        app.router.add_get("/", evil)
        other = HttpServer(app, "127.0.0.1", 0)
        await other.start()
        try:
            page = await new_page(browser)
            await _sign_in(page, base)
            # "localhost" is another site than "127.0.0.1": the Strict cookie stays home, so
            # the POST arrives signed out and is sent to the login.
            await page.goto(f"http://localhost:{other.port}/")
            await page.wait_for_url(f"{base}/admin/login")
            # Another port of the same host is the same site but another origin: the cookie
            # goes along, and the Origin (and the missing CSRF token) get the POST refused.
            async with page.expect_response(target) as posted:
                await page.goto(f"http://127.0.0.1:{other.port}/")
            assert (await posted.value).status == 403
            assert (await running.services.admin.state()).budgets == []
            await page.goto(f"{base}/admin/settings")
            assert page.url.endswith("/admin/settings"), "the operator is still signed in"
        finally:
            await other.stop()
