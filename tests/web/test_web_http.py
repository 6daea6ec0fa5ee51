"""The web chat over real HTTP: sessions, login off loopback, streaming, uploads, bad input."""

from __future__ import annotations

import aiohttp
from yarl import URL

from bots.web.sessions import COOKIE, is_loopback
from tests.documents.samples import DOCX_MIME, docx
from tests.web.conftest import send, texts_of


async def test_each_browser_has_its_own_remembered_conversation(web_chat, moonshot):
    async with web_chat() as chat:
        alice, bob = chat.browser(), chat.browser()
        async with alice.get("/") as page:
            assert page.status == 200
            assert "default-src 'none'" in page.headers["Content-Security-Policy"]
            cookie = page.cookies[COOKIE]
            assert cookie["httponly"] and cookie["samesite"] == "Lax"
        status, events = await send(alice, "my favourite colour is teal")
        assert status == 200
        names = [name for name, _ in events]
        assert names[0] == "begin" and names[-2:] == ["done", "end"]
        assert len(texts_of(events, "delta")) > 1, "the answer streams in pieces"
        assert "".join(texts_of(events, "delta")) == texts_of(events, "done")[0]
        assert "my favourite colour is teal" in texts_of(events, "done")[0]

        await send(alice, "and what is my favourite colour?")
        users = [m["content"] for m in moonshot.requests[-1]["messages"] if m["role"] == "user"]
        assert users == ["my favourite colour is teal", "and what is my favourite colour?"]

        async with alice.get("/api/session") as response:
            history = await response.json()
        assert [m["role"] for m in history["messages"]] == ["user", "assistant"] * 2
        assert history["messages"][0]["text"] == "my favourite colour is teal"
        assert history["demo"] is False and history["login_required"] is False

        await bob.get("/")
        async with bob.get("/api/session") as response:
            assert (await response.json())["messages"] == []
        await send(bob, "hello from bob")
        users = [m["content"] for m in moonshot.requests[-1]["messages"] if m["role"] == "user"]
        assert users == ["hello from bob"], "bob's turn sees none of alice's conversation"


async def test_commands_work_and_reset_starts_a_new_conversation(web_chat):
    async with web_chat() as chat:
        client = chat.browser()
        await client.get("/")
        _, events = await send(client, "remember 42")
        first = events[-1][1]["conversation"]
        _, events = await send(client, "/help")
        assert "/reset" in texts_of(events, "reply")[0]
        _, events = await send(client, "/model")
        assert "kimi-k2" in texts_of(events, "reply")[0]
        _, events = await send(client, "/reset")
        assert texts_of(events, "reply")
        assert events[-1][1]["conversation"] != first
        async with client.get("/api/session") as response:
            assert (await response.json())["messages"] == []


async def test_a_document_upload_is_read_and_answered_about(web_chat, moonshot):
    async with web_chat() as chat:
        client = chat.browser()
        await client.get("/")
        data = docx("The owl budget for 2027 is 4,812 mice.")
        status, events = await send(
            client, "What is the owl budget?", files=[("budget.docx", data, DOCX_MIME)]
        )
        assert status == 200
        assert any("budget.docx" in text and "#1" in text for text in texts_of(events, "reply"))
        system = [m["content"] for m in moonshot.requests[-1]["messages"] if m["role"] == "system"]
        assert any("4,812 mice" in content for content in system)
        _, events = await send(client, "/docs")
        assert "budget.docx" in texts_of(events, "reply")[0]


async def test_bad_input_gets_a_clear_answer(web_chat):
    async with web_chat() as chat:
        client = chat.browser()
        await client.get("/")
        _, events = await send(client, "   ")
        assert texts_of(events, "reply"), "an empty message is answered, not ignored"
        async with client.post(
            "/api/messages",
            data=b"{not json",
            headers={"X-Kimi-Chat": "1", "Content-Type": "application/json"},
        ) as response:
            assert response.status == 400
            assert "malformed" in (await response.json())["error"]
        status, events = await send(client, "x", files=[("tool.exe", b"MZ\x90\x00", "x/y")])
        assert status == 200
        assert any("tool.exe" in text for text in texts_of(events, "reply"))
        status, _ = await send(client, "hi", header=False)
        assert status == 403, "a cross-site form cannot send the page's header"


async def test_uploads_over_the_limit_are_refused_without_reading_them(web_chat):
    async with web_chat() as chat:
        chat.adapter._max_file_bytes = 1024
        client = chat.browser()
        await client.get("/")
        form = aiohttp.FormData()
        form.add_field("text", "read this")
        form.add_field("file", b"a" * 50_000, filename="big.txt", content_type="text/plain")
        async with client.post(
            "/api/messages", data=form, headers={"X-Kimi-Chat": "1"}
        ) as response:
            assert response.status == 413
            assert "big.txt" in (await response.json())["error"]


async def test_forged_or_foreign_cookies_get_a_new_session(web_chat):
    async with web_chat() as chat:
        client = chat.browser()
        await client.get("/")
        await send(client, "secret plans")
        real = client.cookie_jar.filter_cookies(URL(chat.base_url))[COOKIE].value
        forged = chat.browser()
        forged.cookie_jar.update_cookies({COOKIE: real[:-2] + "xx"}, URL(chat.base_url))
        async with forged.get("/api/session") as response:
            assert response.status == 401
        async with forged.get("/") as page:
            assert page.status == 200
        async with forged.get("/api/session") as response:
            assert (await response.json())["messages"] == []


async def test_off_loopback_the_chat_needs_the_token(web_chat):
    async with web_chat(host="0.0.0.0", web_token="correct-horse-battery") as chat:
        client = chat.browser()
        async with client.get("/", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/login"
        async with client.get("/api/session") as response:
            assert response.status == 401
        status, _ = await send(client, "hello")
        assert status == 401
        async with client.post("/login", data={"token": "wrong"}) as response:
            assert response.status == 401
            assert "not right" in await response.text()
        async with client.post(
            "/login",
            data={"token": "correct-horse-battery"},
            headers={"Origin": "http://evil.test"},
        ) as response:
            assert response.status == 403, "a login posted from another site is refused"
        async with client.post(
            "/login", data={"token": "correct-horse-battery"}, allow_redirects=False
        ) as response:
            assert response.status == 303 and response.headers["Location"] == "/"
        async with client.get("/") as page:
            assert page.status == 200 and "chat.js" in await page.text()
        status, events = await send(client, "hello after login")
        assert status == 200 and "hello after login" in texts_of(events, "done")[0]
        async with client.post("/logout", allow_redirects=False) as response:
            assert response.status == 303
        async with client.get("/api/session") as response:
            assert response.status == 401


async def test_changing_the_token_signs_everyone_out(web_chat, moonshot, sqlite_url):
    async with web_chat(host="0.0.0.0", web_token="first-token") as chat:
        client = chat.browser()
        await client.post("/login", data={"token": "first-token"})
        cookie = client.cookie_jar.filter_cookies(URL(chat.base_url))[COOKIE].value
    async with web_chat(host="0.0.0.0", web_token="second-token") as chat:
        client = chat.browser()
        client.cookie_jar.update_cookies({COOKIE: cookie}, URL(chat.base_url))
        async with client.get("/api/session") as response:
            assert response.status == 401


async def test_sessions_survive_a_restart(web_chat):
    async with web_chat() as chat:
        client = chat.browser()
        await client.get("/")
        await send(client, "kept across restarts")
        cookie = client.cookie_jar.filter_cookies(URL(chat.base_url))[COOKIE].value
    async with web_chat() as chat:
        client = chat.browser()
        client.cookie_jar.update_cookies({COOKIE: cookie}, URL(chat.base_url))
        async with client.get("/api/session") as response:
            messages = (await response.json())["messages"]
        assert messages[0]["text"] == "kept across restarts"


async def test_wrong_tokens_pause_logins_from_that_address(web_chat):
    async with web_chat(host="0.0.0.0", web_token="right") as chat:
        client = chat.browser()
        for _ in range(10):
            async with client.post("/login", data={"token": "guess"}) as response:
                assert response.status == 401
        async with client.post("/login", data={"token": "right"}) as response:
            assert response.status == 429, "even the right token waits once guessing started"


async def test_login_page_escapes_and_sets_strict_headers(web_chat):
    async with web_chat(host="0.0.0.0", web_token="right") as chat:
        client = chat.browser()
        async with client.get("/login") as response:
            page = await response.text()
            assert "{{error}}" not in page
            assert response.headers["X-Frame-Options"] == "DENY"
        async with client.get("/static/../adapter.py") as response:
            assert response.status == 404
        async with client.get("/static/chat.js") as response:
            assert response.status == 200
            assert "innerHTML" not in await response.text(), "the page never parses text as HTML"


async def test_off_loopback_without_a_token_the_chat_stays_off(web_chat):
    async with web_chat(host="0.0.0.0") as chat:
        assert not chat.adapter.enabled
        client = chat.browser()
        async with client.get("/") as response:
            assert response.status == 403
            assert "WEB_TOKEN" in await response.text()
        async with client.get("/api/session") as response:
            assert response.status == 404


async def test_web_star_admits_every_web_user_when_allow_lists_are_set(web_chat):
    async with web_chat(allowed_users="telegram:1") as chat:
        client = chat.browser()
        await client.get("/")
        _, events = await send(client, "let me in")
        assert not texts_of(events, "done"), "not on the allow-list: refused"
    async with web_chat(allowed_users="telegram:1,web:*") as chat:
        client = chat.browser()
        await client.get("/")
        _, events = await send(client, "let me in")
        assert "let me in" in texts_of(events, "done")[0]


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("example.com") and not is_loopback("::")


def test_the_web_token_is_redacted_from_logs(sqlite_url):
    from bots.cli import _secrets
    from tests.conftest import make_settings

    settings = make_settings("http://127.0.0.1:9/v1", sqlite_url, web_token="s3cret-web-token")
    assert "s3cret-web-token" in _secrets(settings)
