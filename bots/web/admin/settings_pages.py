"""The console's settings: per-user budgets and allow-list entries (stored in the database, in
force in every chat within seconds), the environment shown read-only with secrets masked, and
the audit log of console actions.

Every form carries the session's CSRF token and is checked by :meth:`AdminGate.check_csrf`;
every change is written to the audit log with who, when and what.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web
from pydantic import SecretStr

from bots.http import Route
from bots.web.admin.auth import HEADERS, AdminGate, AdminSession
from bots.web.admin.layout import esc, page, table
from core.access import CHAT, USER
from core.admin_settings import AdminSettings, InvalidSetting
from core.service import Services

AUDIT_PAGE = 100
SECRET_NAME = re.compile(r"token|key|secret|password|passwd|credential", re.IGNORECASE)
MASK = "•••••• (set)"
LONG_VALUE = 160
DONE = {
    "budget": "Budget saved.",
    "budget-removed": "Budget removed: the default applies again.",
    "access-added": "Added to the allow-list.",
    "access-removed": "Removed from the allow-list.",
}


class SettingsPages:
    def __init__(self, services: Services, gate: AdminGate) -> None:
        self._services = services
        self._gate = gate

    def routes(self) -> list[Route]:
        return [
            ("GET", "/admin/settings", self._settings_page),
            ("POST", "/admin/settings/budgets", self._budgets),
            ("POST", "/admin/settings/access", self._access),
            ("GET", "/admin/audit", self._audit_page),
        ]

    # -- settings ---------------------------------------------------------------------------
    async def _settings_page(self, request: web.Request) -> web.Response:
        session = self._gate.require(request)
        done = DONE.get(request.query.get("done", ""), "")
        return await self._render(session, notice=done)

    async def _render(
        self, session: AdminSession, *, notice: str = "", error: str = "", status: int = 200
    ) -> web.Response:
        state = await self._admin().state()
        settings = self._services.settings
        parts = ["<h1>Settings</h1>"]
        if notice:
            parts.append(f'<p class="notice ok" role="status">{esc(notice)}</p>')
        if error:
            parts.append(f'<p class="error down" role="alert">{esc(error)}</p>')
        parts.append(self._budget_section(session, state.budgets, settings))
        parts.append(self._access_section(session, state.access, settings))
        parts.append(_environment_section(settings))
        return page("Settings", "".join(parts), session=session, status=status)

    def _budget_section(self, session: AdminSession, rows: list[Any], settings: Any) -> str:
        currency = settings.catalog.currency
        default = (
            f"Everyone else: daily {_amount(settings.budget_user_daily, 'no cap')}, monthly "
            f"{_amount(settings.budget_user_monthly, 'no cap')} (BUDGET_USER_DAILY, "
            "BUDGET_USER_MONTHLY); the whole bot: monthly "
            f"{_amount(settings.budget_global_monthly, 'no cap')} (BUDGET_GLOBAL_MONTHLY). "
            "Admins have no budget."
        )
        listed = [
            [
                f"<code>{esc(row.user_id)}</code>",
                esc(_amount(row.daily, "default")),
                esc(_amount(row.monthly, "default")),
                _form(
                    "/admin/settings/budgets",
                    session,
                    {"user": row.user_id, "action": "remove"},
                    "Remove",
                ),
                esc(f"{row.updated_by}, {_when(row.updated_at)}"),
            ]
            for row in rows
        ]
        return (
            f'<section id="budgets"><h2>Budgets per user ({esc(currency)})</h2>'
            f"<p>{esc(default)} A user's own budget below takes the place of the default; "
            "an empty field keeps the default for that period. In force within seconds.</p>"
            + table(["User", "Daily", "Monthly", "", "Changed"], listed, text_columns=1)
            + '<form method="post" action="/admin/settings/budgets" class="inline filters" '
            'id="budget-form">'
            f"{_csrf(session)}"
            '<input type="hidden" name="action" value="save">'
            '<label>User id <input name="user" required placeholder="telegram:123456"></label>'
            '<label>Daily <input name="daily" inputmode="decimal" placeholder="default"></label>'
            '<label>Monthly <input name="monthly" inputmode="decimal" placeholder="default">'
            '</label><button type="submit" class="primary">Save budget</button></form></section>'
        )

    def _access_section(self, session: AdminSession, rows: list[Any], settings: Any) -> str:
        fixed = [
            [f"<code>{esc(v)}</code>", "user", "", "ALLOWED_USERS"] for v in settings.allowed_users
        ]
        fixed += [
            [f"<code>{esc(v)}</code>", "chat", "", "ALLOWED_CHATS"] for v in settings.allowed_chats
        ]
        added = [
            [
                f"<code>{esc(row.value)}</code>",
                esc(row.kind),
                _form(
                    "/admin/settings/access",
                    session,
                    {"kind": row.kind, "value": row.value, "action": "remove"},
                    "Remove",
                ),
                esc(f"console: {row.added_by}, {_when(row.created_at)}"),
            ]
            for row in rows
        ]
        open_now = not fixed and not added
        state = (
            "Nobody is listed, so everyone may use the bot. Adding an entry turns the allow-list "
            "on: from then on only listed users and chats (and ADMINS) are answered."
            if open_now
            else "Only the users and chats listed here (and ADMINS) are answered."
        )
        return (
            '<section id="access"><h2>Allow-list</h2>'
            f"<p>{esc(state)} Entries from the environment cannot be removed here.</p>"
            + table(["Id", "Kind", "", "From"], fixed + added, text_columns=4)
            + '<form method="post" action="/admin/settings/access" class="inline filters" '
            'id="access-form">'
            f"{_csrf(session)}"
            '<input type="hidden" name="action" value="add">'
            '<label>Kind <select name="kind"><option value="user">user</option>'
            '<option value="chat">chat</option></select></label>'
            '<label>Id <input name="value" required placeholder="telegram:123456"></label>'
            '<button type="submit" class="primary">Add</button></form></section>'
        )

    async def _budgets(self, request: web.Request) -> web.Response:
        session = self._gate.require(request)
        form = await request.post()
        self._gate.check_csrf(request, form)
        user = _field(form, "user")
        admin = self._admin()
        try:
            if _field(form, "action") == "remove":
                await admin.set_budget(user, "", "", by=session.admin_id)
                await self._gate.audit(session, "budget removed", user)
                return _see("budget-removed")
            daily, monthly = _field(form, "daily"), _field(form, "monthly")
            own = await admin.set_budget(user, daily, monthly, by=session.admin_id)
        except InvalidSetting as bad:
            return await self._render(session, error=str(bad), status=400)
        if own is None:
            await self._gate.audit(session, "budget removed", user.strip())
            return _see("budget-removed")
        detail = f"{user.strip()}: daily {_amount(own.daily, 'default')}, "
        detail += f"monthly {_amount(own.monthly, 'default')}"
        await self._gate.audit(session, "budget set", detail)
        return _see("budget")

    async def _access(self, request: web.Request) -> web.Response:
        session = self._gate.require(request)
        form = await request.post()
        self._gate.check_csrf(request, form)
        kind, value = _field(form, "kind"), _field(form, "value").strip()
        if kind not in (USER, CHAT):
            return await self._render(session, error="Choose user or chat.", status=400)
        admin = self._admin()
        try:
            if _field(form, "action") == "remove":
                await admin.remove_access(kind, value)
                await self._gate.audit(session, "allow-list remove", f"{kind} {value}")
                return _see("access-removed")
            await admin.add_access(kind, value, by=session.admin_id)
        except InvalidSetting as bad:
            return await self._render(session, error=str(bad), status=400)
        await self._gate.audit(session, "allow-list add", f"{kind} {value}")
        return _see("access-added")

    # -- audit log --------------------------------------------------------------------------
    async def _audit_page(self, request: web.Request) -> web.Response:
        session = self._gate.require(request)
        before_text = request.query.get("before", "")
        before = int(before_text) if before_text.isdigit() else None
        rows = await self._admin().audit_log(limit=AUDIT_PAGE, before=before)
        listed = [
            [esc(_when(row.at)), esc(row.admin_id), esc(row.action), esc(row.detail)]
            for row in rows
        ]
        more = ""
        if len(rows) == AUDIT_PAGE:
            more = f'<p><a href="/admin/audit?before={rows[-1].id}">Older entries</a></p>'
        body = (
            "<h1>Audit</h1><p>Every console action: sign-ins and sign-outs, settings changed, "
            "conversations viewed. Newest first; times in UTC.</p>"
            + table(["When", "Who", "Action", "Detail"], listed, text_columns=4)
            + more
        )
        return page("Audit", body, session=session)

    def _admin(self) -> AdminSettings:
        admin = self._services.admin
        if admin is None:
            raise web.HTTPServiceUnavailable(text="the console's storage is not ready")
        return admin


# -- the environment, read-only -------------------------------------------------------------
def masked_settings(settings: Any) -> list[tuple[str, str]]:
    """Every setting as ``(ENV_NAME, shown value)``; secrets show only whether they are set."""
    rows = []
    for name in type(settings).model_fields:
        rows.append((name.upper(), _shown(name, getattr(settings, name))))
    return rows


def _shown(name: str, value: object) -> str:
    if value is None:
        return "not set"
    if isinstance(value, SecretStr) or SECRET_NAME.search(name):
        if isinstance(value, (int, float, bool)) and not isinstance(value, SecretStr):
            return str(value)  # a number such as HISTORY_MAX_TOKENS is not a secret
        return MASK if _secret_set(value) else "not set"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "(empty)"
    text = str(value)
    if "://" in text:
        text = _without_credentials(text)
    if len(text) > LONG_VALUE:
        text = text[:LONG_VALUE] + "…"
    return text


def _secret_set(value: object) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return bool(value)


def _without_credentials(url: str) -> str:
    """A URL with any user, password and secret-looking query values masked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "•••••• (unreadable URL)"
    netloc = parts.netloc
    if parts.username is not None or parts.password is not None:
        netloc = f"••••••@{host}{port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "••••••" if SECRET_NAME.search(k) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _environment_section(settings: Any) -> str:
    rows = [[f"<code>{esc(name)}</code>", esc(shown)] for name, shown in masked_settings(settings)]
    return (
        '<section id="environment"><h2>Environment (read-only)</h2>'
        "<p>Set in the environment or <code>.env</code>; a change needs a restart. Secret "
        "values are never shown, only whether they are set.</p>"
        + table(["Setting", "Value"], rows, text_columns=2)
        + "</section>"
    )


# -- helpers --------------------------------------------------------------------------------
def _csrf(session: AdminSession) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(session.csrf)}">'


def _form(action: str, session: AdminSession, fields: dict[str, str], button: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in fields.items()
    )
    return (
        f'<form method="post" action="{esc(action)}" class="row-action">{_csrf(session)}'
        f'{hidden}<button type="submit">{esc(button)}</button></form>'
    )


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _amount(value: float | None, unset: str = "none") -> str:
    return unset if value is None else f"{value:g}"


def _when(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _see(done: str) -> web.Response:
    """Post/redirect/get: a reload does not send the form twice."""
    return web.Response(status=303, headers={"Location": f"/admin/settings?done={done}", **HEADERS})
