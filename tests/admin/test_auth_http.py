"""The console's door over real HTTP: the token login and its throttle, sessions that are
forged, expired or outdated, CSRF and cross-site POSTs, one-time links, and the audit log."""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from yarl import URL

from bots.web.admin.auth import COOKIE, LOGIN_COOKIE, same_origin
from tests.admin.auth_support import (
    ADMIN_TOKEN,
    csrf_of,
    follow_link,
    log_in,
    page_csrf,
    running_console,
)


class _HourAgoSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


async def _audit(console) -> list[tuple[str, str, str]]:
    rows = await console.services.admin.audit_log()
    return [(row.admin_id, row.action, row.detail) for row in rows]


async def test_every_console_page_needs_a_login_even_on_loopback(console):
    async with console() as running:
        client = running.browser()
        for path in ("/admin", "/admin/settings", "/admin/audit", "/admin/usage"):
            async with client.get(path, allow_redirects=False) as response:
                assert response.status == 303, path
                assert response.headers["Location"] == "/admin/login"
        async with client.get("/admin/login") as response:
            html = await response.text()
            assert response.status == 200
            assert 'type="password" name="token"' in html
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        async with client.post(
            "/admin/settings/budgets", data={"user": "telegram:1", "daily": "1"}
        ) as response:
            assert response.status in (303, 200) and str(response.url).endswith("/admin/login")
        assert (await running.services.admin.state()).budgets == []


async def test_the_token_logs_in_with_a_strict_cookie_and_is_audited(console):
    async with console() as running:
        client = running.browser()
        response = await log_in(client)
        assert response.status == 303 and response.headers["Location"] == "/admin"
        cookie = response.cookies[COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert cookie["path"] == "/admin"
        assert not cookie["secure"], "plain HTTP on loopback keeps working"
        assert int(cookie["max-age"]) == 8 * 3600
        async with client.get("/admin/settings") as page:
            assert page.status == 200
            assert "Budgets per user" in await page.text()
        async with client.get("/admin/login", allow_redirects=False) as page:
            assert page.status == 303, "signed in: the login page sends you on"
        (who, action, detail), *_ = await _audit(running)
        assert (who, action) == ("token", "login")
        assert "ADMIN_TOKEN" in detail and ADMIN_TOKEN not in detail


async def test_a_wrong_token_is_refused_and_repeated_failures_are_throttled(console):
    async with console() as running:
        client = running.browser()
        response = await log_in(client, "not-the-token")
        assert response.status == 401
        assert COOKIE not in response.cookies
        for _ in range(9):
            await log_in(client, "still-wrong")
        response = await log_in(client)  # the right token, too late: this address is paused
        assert response.status == 429
        assert COOKIE not in response.cookies
        async with client.get("/admin/settings", allow_redirects=False) as page:
            assert page.status == 303


async def test_the_login_form_needs_its_own_nonce_and_the_same_origin(console):
    async with console() as running:
        client = running.browser()
        await client.get("/admin/login")
        async with client.post(
            "/admin/login", data={"csrf": "guessed", "token": ADMIN_TOKEN}, allow_redirects=False
        ) as response:
            assert response.status == 403
        async with client.post(
            "/admin/login",
            data={"token": ADMIN_TOKEN},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        ) as response:
            assert response.status == 403
            assert COOKIE not in response.cookies


async def test_forged_expired_and_outdated_sessions_are_refused(console):
    async with console() as running:
        client = running.browser()
        gate = running.gate
        signer = gate._sessions
        payload = {"a": "token", "c": "x", "e": time.time() + 3600, "f": gate._fingerprint}
        other_key = URLSafeTimedSerializer("not-the-key", salt="kimi-bot admin session")
        attempts = {
            "garbage": "not-a-cookie",
            "another key": other_key.dumps(payload),
            "tampered": signer.dumps(payload)[:-2] + "AA",
            "expired": signer.dumps({**payload, "e": time.time() - 1}),
            "token changed": signer.dumps({**payload, "f": "0" * 32}),
            "not an admin": signer.dumps({**payload, "a": "telegram:666", "f": ""}),
        }
        for name, value in attempts.items():
            client.cookie_jar.clear()
            client.cookie_jar.update_cookies({COOKIE: value})
            async with client.get("/admin/settings", allow_redirects=False) as response:
                assert response.status == 303, name
        client.cookie_jar.clear()
        client.cookie_jar.update_cookies({COOKIE: signer.dumps(payload)})
        async with client.get("/admin/settings", allow_redirects=False) as response:
            assert response.status == 200, "the same payload, genuinely signed, is accepted"


async def test_a_session_expires_after_admin_session_hours(console):
    async with console(admin_session_hours=0.0005) as running:  # 1.8 seconds
        gate = running.gate
        stale = gate._sessions.dumps(
            {"a": "token", "c": "x", "e": time.time() + 3600, "f": gate._fingerprint}
        )
        # Signed an hour ago: itsdangerous' own timestamp is checked as well as "e".
        old = URLSafeTimedSerializer(
            gate._sessions.secret_key, salt="kimi-bot admin session", signer=_HourAgoSigner
        )
        long_ago = old.dumps(
            {"a": "token", "c": "x", "e": time.time() + 3600, "f": gate._fingerprint}
        )
        client = running.browser()
        client.cookie_jar.update_cookies({COOKIE: long_ago})
        async with client.get("/admin/settings", allow_redirects=False) as response:
            assert response.status == 303
        client.cookie_jar.clear()
        client.cookie_jar.update_cookies({COOKIE: stale})
        async with client.get("/admin/settings", allow_redirects=False) as response:
            assert response.status == 200


@pytest.mark.parametrize(
    ("headers", "with_csrf"),
    [
        ({"Origin": "https://evil.example"}, True),
        ({"Origin": "null"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, True),
        ({"Referer": "https://evil.example/page"}, True),
        ({}, False),
    ],
    ids=["other-origin", "null-origin", "fetch-cross-site", "other-referer", "no-csrf"],
)
async def test_cross_site_posts_and_posts_without_the_token_are_refused(
    console, headers, with_csrf
):
    async with console() as running:
        client = running.browser()
        await log_in(client)
        csrf = await page_csrf(client)
        form = {"user": "telegram:7", "daily": "1", "monthly": "", "action": "save"}
        if with_csrf:
            form["csrf"] = csrf
        async with client.post(
            "/admin/settings/budgets", data=form, headers=headers, allow_redirects=False
        ) as response:
            assert response.status == 403
        async with client.post(
            "/admin/settings/access",
            data={**form, "kind": "user", "value": "telegram:7", "action": "add"},
            headers=headers,
            allow_redirects=False,
        ) as response:
            assert response.status == 403
        state = await running.services.admin.state()
        assert state.budgets == [] and state.access == []
        # The same form from the console's own page goes through.
        async with client.post(
            "/admin/settings/budgets",
            data={**form, "csrf": csrf},
            headers={"Origin": running.base_url},
            allow_redirects=False,
        ) as response:
            assert response.status == 303
        assert [b.user_id for b in (await running.services.admin.state()).budgets] == ["telegram:7"]


async def test_a_csrf_token_of_another_session_is_refused(console):
    async with console() as running:
        alice, mallory = running.browser(), running.browser()
        await log_in(alice)
        await log_in(mallory)
        malloys_token = await page_csrf(mallory)
        async with alice.post(
            "/admin/settings/budgets",
            data={"csrf": malloys_token, "user": "telegram:7", "daily": "1", "action": "save"},
            allow_redirects=False,
        ) as response:
            assert response.status == 403


async def test_logout_ends_the_session_and_is_audited(console):
    async with console() as running:
        client = running.browser()
        await log_in(client)
        csrf = await page_csrf(client)
        async with client.post("/admin/logout", data={}, allow_redirects=False) as response:
            assert response.status == 403, "logging out needs the CSRF token too"
        async with client.post(
            "/admin/logout", data={"csrf": csrf}, allow_redirects=False
        ) as response:
            assert response.status == 303 and response.headers["Location"] == "/admin/login"
        async with client.get("/admin/settings", allow_redirects=False) as response:
            assert response.status == 303
        assert [a for _, a, _ in await _audit(running)] == ["logout", "login"]


async def test_a_one_time_link_works_once(console):
    async with console(admins="telegram:42", admin_token=None) as running:
        token = await running.services.admin.issue_link("telegram:42")
        client = running.browser()
        for _ in range(2):  # a link preview's GET spends nothing
            async with client.get(f"/admin/link/{token}") as page:
                assert page.status == 200
                html = await page.text()
                assert "telegram:42" in html and 'action="/admin/link/' in html
        nonce = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
        async with client.post(
            f"/admin/link/{token}", data={"csrf": nonce}, allow_redirects=False
        ) as response:
            assert response.status == 303 and response.headers["Location"] == "/admin"
            assert COOKIE in response.cookies
        async with client.get("/admin/settings") as page:
            assert page.status == 200
        assert (await _audit(running))[0][:2] == ("telegram:42", "login")

        again = running.browser()
        async with again.get(f"/admin/link/{token}") as page:
            assert page.status == 403
            assert "used already or has expired" in await page.text()
        await again.get("/admin/login")
        nonce = again.cookie_jar.filter_cookies(URL(running.base_url + "/admin"))[LOGIN_COOKIE]
        assert nonce
        async with again.post(
            f"/admin/link/{token}", data={"csrf": "x"}, allow_redirects=False
        ) as response:
            assert response.status == 403
        async with again.get("/admin/settings", allow_redirects=False) as page:
            assert page.status == 303


async def test_a_spent_link_cannot_be_spent_twice_even_with_a_fresh_form(console):
    async with console(admins="telegram:42") as running:
        token = await running.services.admin.issue_link("telegram:42")
        first, second = running.browser(), running.browser()
        nonces = []
        for client in (first, second):  # both opened the page before either clicked
            async with client.get(f"/admin/link/{token}") as page:
                nonces.append(re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1))
        statuses = []
        for client, nonce in zip((first, second), nonces, strict=True):
            async with client.post(
                f"/admin/link/{token}", data={"csrf": nonce}, allow_redirects=False
            ) as response:
                statuses.append(response.status)
        assert statuses == [303, 403]


async def test_expired_unknown_and_revoked_links_are_refused(console):
    async with console(admins="telegram:42") as running:
        admin = running.services.admin
        old = await admin.issue_link("telegram:42", now=datetime.now(UTC) - timedelta(minutes=11))
        stranger = await admin.issue_link("telegram:99")  # not (or no longer) in ADMINS
        client = running.browser()
        for token in (old, stranger, "no-such-token"):
            async with client.get(f"/admin/link/{token}") as page:
                assert page.status == 403, token
        assert await admin.link_admin(old) is None


async def test_the_console_is_off_without_token_or_admins_and_says_how(console):
    async with console(admin_token=None) as running:
        client = running.browser()
        async with client.get("/admin") as page:
            assert page.status == 403
            text = await page.text()
            assert "ADMIN_TOKEN" in text and "ADMINS" in text
        async with client.get("/admin/login") as page:
            assert page.status == 403


async def test_demo_mode_logs_a_one_time_link(moonshot, db_url, caplog):
    caplog.set_level(logging.WARNING, logger="bots.web.admin.auth")
    async with running_console(moonshot.base_url, db_url, demo=True, admin_token=None) as running:
        lines = [r.getMessage() for r in caplog.records if "/admin/link/" in r.getMessage()]
        assert len(lines) == 1
        token = lines[0].split("/admin/link/", 1)[1].split()[0]
        client = running.browser()
        assert (await follow_link(client, token)).status == 303
        async with client.get("/admin/audit") as page:
            assert page.status == 200
            assert "demo" in await page.text()


async def test_off_loopback_the_session_cookie_is_secure(console):
    async with console(host="0.0.0.0", web_token="web-chat-token") as running:
        client = running.browser()
        async with client.get("/admin/login") as page:
            nonce = csrf_of(await page.text())
            login_cookie = page.cookies[LOGIN_COOKIE]
            assert login_cookie["secure"]
        async with client.post(
            "/admin/login", data={"csrf": nonce, "token": ADMIN_TOKEN}, allow_redirects=False
        ) as response:
            assert response.status == 403, "over plain HTTP the browser keeps the cookie back"
            assert "HTTPS" in await response.text()
        async with client.post(
            "/admin/login",
            data={"csrf": nonce, "token": ADMIN_TOKEN},
            headers={
                "Cookie": f"{LOGIN_COOKIE}={login_cookie.value}",
                "X-Forwarded-Proto": "https",
            },
            allow_redirects=False,
        ) as response:
            assert response.status == 303
            assert response.cookies[COOKIE]["secure"]


def test_api_requests_get_401_and_pages_a_redirect():
    from bots.web.admin.auth import AdminGate

    gate = AdminGate.__new__(AdminGate)
    gate.enabled = True
    gate.session = lambda _request: None  # type: ignore[method-assign]
    with pytest.raises(web.HTTPUnauthorized):
        gate.require(make_mocked_request("GET", "/admin/api/usage"))
    with pytest.raises(web.HTTPSeeOther) as redirect:
        gate.require(make_mocked_request("GET", "/admin/usage"))
    assert redirect.value.location == "/admin/login"


@pytest.mark.parametrize(
    ("headers", "same"),
    [
        ({}, True),
        ({"Origin": "http://console.test"}, True),
        ({"Sec-Fetch-Site": "same-origin", "Origin": "http://console.test"}, True),
        ({"Origin": "http://console.test.evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, True),  # Referrer-Policy no-referrer
        ({"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Referer": "http://console.test/admin/settings"}, True),
        ({"Referer": "http://evil.example/admin/settings"}, False),
    ],
)
def test_same_origin(headers, same):
    request = make_mocked_request(
        "POST", "/admin/logout", headers={"Host": "console.test", **headers}
    )
    assert same_origin(request) is same


def test_the_public_url_counts_as_the_same_origin():
    request = make_mocked_request(
        "POST", "/admin/logout", headers={"Host": "10.0.0.5:8080", "Origin": "https://kimi.example"}
    )
    assert same_origin(request, "https://kimi.example")
    assert not same_origin(request)
