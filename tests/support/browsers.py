"""HTTP clients that act as separate browsers against one running test server."""

from __future__ import annotations

import aiohttp


class BrowserPool:
    """``browser()`` is a client with a cookie jar of its own (a separate browser), so one test
    can be two users; ``close()`` closes every client it gave out."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._clients: list[aiohttp.ClientSession] = []

    def browser(self) -> aiohttp.ClientSession:
        client = aiohttp.ClientSession(
            base_url=self.base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
