"""Settings that are data, over real HTTP: per-user budgets and allow-list entries changed in
the console are enforced in the web chat, recorded in the audit log, and seen by other workers;
the environment is shown with every secret masked."""

from __future__ import annotations

import asyncio

import pytest

from core.access import ConsoleEntries
from core.budgets import UserBudget, UserOverrides
from core.service import start_services
from tests.admin.auth_support import ADMIN_TOKEN, log_in, page_csrf, web_user_id
from tests.conftest import make_settings
from tests.web.conftest import send, texts_of

REFUSED = "You have used your daily budget"
NOT_ALLOWED = "this bot is private"


async def _post(client, path: str, form: dict[str, str]) -> tuple[int, str]:
    csrf = await page_csrf(client)
    async with client.post(path, data={"csrf": csrf, **form}) as response:
        return response.status, await response.text()


async def _answered(client, text: str) -> str:
    """The web chat's reply to ``text``: the answer, or the refusal it got instead."""
    status, events = await send(client, text)
    assert status == 200
    return " ".join(texts_of(events, "done") + texts_of(events, "reply"))


async def _audit(running) -> list[tuple[str, str, str]]:
    return [(r.admin_id, r.action, r.detail) for r in await running.services.admin.audit_log()]


async def test_a_budget_set_in_the_console_refuses_that_users_next_question(console):
    async with console() as running:
        user, other, admin = running.browser(), running.browser(), running.browser()
        await user.get("/")
        await other.get("/")
        assert REFUSED not in await _answered(user, "first question")
        await log_in(admin)
        who = web_user_id(running, user)

        status, html = await _post(
            admin, "/admin/settings/budgets", {"user": who, "daily": "0", "monthly": ""}
        )
        assert status == 200 and "Budget saved." in html
        assert who in html
        assert REFUSED in await _answered(user, "second question")
        assert REFUSED not in await _answered(other, "a question from someone else")

        _, html = await _post(admin, "/admin/settings/budgets", {"user": who, "action": "remove"})
        assert "Budget removed" in html
        assert REFUSED not in await _answered(user, "third question")
        actions = [(a, d) for _, a, d in await _audit(running)]
        assert actions[:2] == [
            ("budget removed", who),
            ("budget set", f"{who}: daily 0, monthly default"),
        ]


async def test_a_users_own_budget_wins_over_the_environments_default(console):
    async with console(budget_user_daily=1e-9) as running:  # the first answer spends it
        user, other, admin = running.browser(), running.browser(), running.browser()
        for client in (user, other):
            await client.get("/")
            assert REFUSED not in await _answered(client, "spend the tiny budget")
            assert REFUSED in await _answered(client, "and again")
        await log_in(admin)
        await _post(
            admin,
            "/admin/settings/budgets",
            {"user": web_user_id(running, user), "daily": "1000", "monthly": "1000"},
        )
        assert REFUSED not in await _answered(user, "my own budget is larger")
        assert REFUSED in await _answered(other, "mine is not")


async def test_allow_list_entries_admit_and_refuse_a_user(console):
    async with console(allowed_users="telegram:1") as running:
        user, admin = running.browser(), running.browser()
        await user.get("/")
        assert NOT_ALLOWED in await _answered(user, "let me in")
        await log_in(admin)
        who = web_user_id(running, user)

        _, html = await _post(
            admin, "/admin/settings/access", {"kind": "user", "value": who, "action": "add"}
        )
        assert "Added to the allow-list." in html and "ALLOWED_USERS" in html
        assert NOT_ALLOWED not in await _answered(user, "am I in now?")

        await _post(
            admin, "/admin/settings/access", {"kind": "user", "value": who, "action": "remove"}
        )
        assert NOT_ALLOWED in await _answered(user, "and now?")
        chat = "web:" + who.split(":", 1)[1]  # the web chat's chat id is its session id
        await _post(admin, "/admin/settings/access", {"kind": "chat", "value": chat})
        assert NOT_ALLOWED not in await _answered(user, "admitted by my chat")
        actions = [(a, d) for _, a, d in await _audit(running)][:3]
        assert actions == [
            ("allow-list add", f"chat {chat}"),
            ("allow-list remove", f"user {who}"),
            ("allow-list add", f"user {who}"),
        ]


async def test_a_first_console_entry_turns_the_allow_list_on(console):
    async with console() as running:
        user, admin = running.browser(), running.browser()
        await user.get("/")
        assert NOT_ALLOWED not in await _answered(user, "open bot")
        await log_in(admin)
        async with admin.get("/admin/settings") as page:
            assert "Adding an entry turns the allow-list on" in await page.text()
        await _post(admin, "/admin/settings/access", {"kind": "user", "value": "telegram:5"})
        assert NOT_ALLOWED in await _answered(user, "closed now")


@pytest.mark.parametrize(
    ("path", "form", "error"),
    [
        ("/admin/settings/budgets", {"user": "nobody", "daily": "1"}, "is not a user id"),
        ("/admin/settings/budgets", {"user": "telegram:1", "daily": "-1"}, "zero or more"),
        ("/admin/settings/budgets", {"user": "telegram:1", "daily": "lots"}, "must be a number"),
        ("/admin/settings/budgets", {"user": "telegram:1", "monthly": "inf"}, "zero or more"),
        ("/admin/settings/access", {"kind": "user", "value": "a b:c"}, "is not a user id"),
        ("/admin/settings/access", {"kind": "admin", "value": "telegram:1"}, "user or chat"),
    ],
)
async def test_bad_values_get_a_clear_message_and_change_nothing(console, path, form, error):
    async with console() as running:
        admin = running.browser()
        await log_in(admin)
        status, html = await _post(admin, path, form)
        assert status == 400
        assert error in html
        state = await running.services.admin.state()
        assert state.budgets == [] and state.access == []


async def test_another_worker_sees_console_changes_within_its_refresh(console, moonshot, db_url):
    async with console() as running:
        other = await start_services(make_settings(moonshot.base_url, db_url))
        try:
            policy = other.assistant.access
            assert policy.console is not None and policy.users() == frozenset()
            await running.services.admin.add_access("user", "telegram:9", by="token")
            await running.services.admin.set_budget("telegram:9", "2", "", by="token")
            await policy.console.refresh()  # what its refresher does every REFRESH_EVERY seconds
            assert "telegram:9" in policy.users()
            budgets = other.assistant.budgets
            assert budgets.overrides is not None
            budgets.overrides.invalidate()  # as its TTL running out would
            assert (await budgets.policy_for("telegram:9")).user_daily == 2
        finally:
            await other.close()


async def test_budget_overrides_are_cached_for_their_ttl():
    reads: list[int] = []
    now = [0.0]

    async def load():
        reads.append(1)
        return [("telegram:1", UserBudget(daily=len(reads)))]

    overrides = UserOverrides(load, ttl=5.0, clock=lambda: now[0])
    assert (await overrides.get("telegram:1")).daily == 1
    now[0] = 4.9
    assert (await overrides.get("telegram:1")).daily == 1, "cached: no query per message"
    now[0] = 5.0
    assert (await overrides.get("telegram:1")).daily == 2
    assert await overrides.get("telegram:2") is None
    assert len(reads) == 2


async def test_the_allow_list_refresher_rereads_the_table():
    rows = [("user", "telegram:1")]
    calls = 0
    third_read = asyncio.Event()  # by then the second read's rows are in force

    async def load():
        nonlocal calls
        calls += 1
        if calls == 3:
            third_read.set()
        return list(rows)

    entries = ConsoleEntries(load, every=0.01)
    await entries.refresh()
    entries.start()
    try:
        rows.append(("chat", "slack:C1"))
        await asyncio.wait_for(third_read.wait(), 5)
        assert entries.chats == frozenset({"slack:C1"})
        assert entries.users == frozenset({"telegram:1"})
    finally:
        await entries.stop()


SECRETS = {
    "admin_token": ADMIN_TOKEN,
    "web_token": "web-chat-secret-7781",
    "telegram_bot_token": "999:telegram-secret-7781",
    "telegram_webhook_secret": "hook-secret-7781",
    "telegram_webhook_url": "https://hookuser:hookpass7781@bot.example/tg?token=qsecret7781",
    "slack_bot_token": "xoxb-slack-secret-7781",
    "slack_signing_secret": "signing-secret-7781",
    "stt_api_key": "stt-secret-7781",
    "stt_base_url": "https://sttuser:sttpass7781@stt.example/v1",
}


async def test_no_secret_value_appears_in_any_console_page(console):
    async with console(**SECRETS) as running:
        admin = running.browser()
        pages = {}
        async with admin.get("/admin/login") as page:
            pages["/admin/login"] = await page.text()
        await log_in(admin)
        await _post(admin, "/admin/settings/budgets", {"user": "telegram:1", "daily": "3"})
        for path in (
            "/admin",
            "/admin/usage",
            "/admin/live",
            "/admin/quality",
            "/admin/conversations",
            "/admin/settings",
            "/admin/audit",
        ):
            async with admin.get(path) as page:
                assert page.status in (200, 403), path
                pages[path] = await page.text()
        settings_page = pages["/admin/settings"]
        assert "ADMIN_TOKEN" in settings_page and "TELEGRAM_BOT_TOKEN" in settings_page
        assert settings_page.count("(set)") >= 7
        assert "bot.example" in settings_page and "stt.example" in settings_page
        for path, html in pages.items():
            for name, value in SECRETS.items():
                for piece in (value, "pass7781", "qsecret7781"):
                    assert piece not in html, f"{name} shown on {path}"
        moonshot_key = running.services.settings.moonshot_api_key.get_secret_value()
        assert all(moonshot_key not in html for html in pages.values())


async def test_a_failed_read_keeps_the_last_budgets_in_force():
    now = [0.0]
    fail = [False]

    async def load():
        if fail[0]:
            raise ConnectionError("database down")
        return [("telegram:1", UserBudget(daily=1.0))]

    overrides = UserOverrides(load, ttl=5.0, clock=lambda: now[0])
    assert (await overrides.get("telegram:1")).daily == 1.0
    fail[0], now[0] = True, 10.0
    assert (await overrides.get("telegram:1")).daily == 1.0, "the chat keeps working"
