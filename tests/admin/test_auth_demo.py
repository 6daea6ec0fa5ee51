"""Demo mode (``kimi-bot run`` with nothing configured): the start-up log holds one one-time
link to the operator console, so a new user can open it without setting anything."""

from __future__ import annotations

import re

import aiohttp

from tests.admin.auth_support import csrf_of
from tests.web.demo_server import demo_server

LINK = re.compile(r"operator console \(demo\): open (http://\S+/admin/link/[\w-]+)")


async def test_the_demo_logs_a_link_that_opens_the_console_once(tmp_path):
    async with demo_server(tmp_path) as server:
        links = LINK.findall(server.output())
        assert len(links) == 1, server.output()
        link = links[0]
        assert link.startswith(server.url + "/admin/link/")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(f"{server.url}/admin", allow_redirects=False) as page:
                assert page.status == 303, "the console needs the link, even in the demo"
            async with browser.get(link) as page:
                nonce = csrf_of(await page.text())
            async with browser.post(link, data={"csrf": nonce}) as page:
                assert page.status == 200 and page.url.path == "/admin"
            async with browser.get(f"{server.url}/admin/settings") as page:
                assert page.status == 200
                assert "Budgets per user" in await page.text()
        async with aiohttp.ClientSession() as stranger:
            async with stranger.get(link) as page:
                assert page.status == 403, "the link worked once"
