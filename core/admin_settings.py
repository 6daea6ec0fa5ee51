"""What the operator console changes and records, for the web adapter (which never touches
``storage``): one-time sign-in links, per-user budgets, allow-list entries and the audit log.

Writes update this worker's in-memory copies at once (:mod:`core.access`, :mod:`core.budgets`);
other workers pick them up within those modules' refresh period.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.access import CHAT, USER, ConsoleEntries
from core.budgets import UserBudget, UserOverrides
from storage.admin import AccessRow, AdminRepository, AuditRow, BudgetRow

LINK_LIFETIME = timedelta(minutes=10)
MAX_ID_CHARS = {USER: 160, CHAT: 400}
MAX_DETAIL_CHARS = 2000


class InvalidSetting(ValueError):
    """A console form value that cannot be stored; the message says what is expected."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def console_caches(repository: AdminRepository) -> tuple[ConsoleEntries, UserOverrides]:
    """The in-memory copies the access check and the budget check read on every message."""

    async def entries() -> list[tuple[str, str]]:
        return [(row.kind, row.value) for row in await repository.access_entries()]

    async def budgets() -> list[tuple[str, UserBudget]]:
        return [(r.user_id, UserBudget(r.daily, r.monthly)) for r in await repository.budgets()]

    return ConsoleEntries(entries), UserOverrides(budgets)


@dataclass(frozen=True, slots=True)
class ConsoleState:
    budgets: list[BudgetRow]
    access: list[AccessRow]


class AdminSettings:
    """The console's verbs; ``entries``/``overrides`` are the caches to keep in step."""

    def __init__(
        self,
        repository: AdminRepository,
        entries: ConsoleEntries | None = None,
        overrides: UserOverrides | None = None,
    ) -> None:
        self._repository = repository
        self._entries = entries
        self._overrides = overrides

    # -- one-time links ---------------------------------------------------------------------
    async def issue_link(self, admin_id: str, *, now: datetime | None = None) -> str:
        """A fresh token for ``admin_id``, valid once for :data:`LINK_LIFETIME`."""
        token = secrets.token_urlsafe(32)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        await self._repository.add_link(_hash(token), admin_id, now + LINK_LIFETIME)
        return token

    async def link_admin(self, token: str) -> str | None:
        """Whose unspent, unexpired link this is (the link page, before the click)."""
        return await self._repository.link_admin(_hash(token), datetime.now(UTC))

    async def redeem_link(self, token: str) -> str | None:
        """Spend the link: the admin id once, then None (on every worker)."""
        return await self._repository.consume_link(_hash(token), datetime.now(UTC))

    # -- settings ---------------------------------------------------------------------------
    async def state(self) -> ConsoleState:
        return ConsoleState(
            budgets=await self._repository.budgets(),
            access=await self._repository.access_entries(),
        )

    async def set_budget(
        self, user_id: str, daily: str, monthly: str, *, by: str
    ) -> UserBudget | None:
        """Set (or, with both empty, remove) a user's own budgets; the form's text values."""
        user_id = checked_id(USER, user_id)
        own = UserBudget(_amount(daily, "daily"), _amount(monthly, "monthly"))
        if own.daily is None and own.monthly is None:
            await self._repository.remove_budget(user_id)
            result = None
        else:
            await self._repository.set_budget(user_id, own.daily, own.monthly, by)
            result = own
        if self._overrides is not None:
            self._overrides.invalidate()
        return result

    async def add_access(self, kind: str, value: str, *, by: str) -> bool:
        added = await self._repository.add_access(kind, checked_id(kind, value), by)
        await self._refresh_entries()
        return added

    async def remove_access(self, kind: str, value: str) -> bool:
        removed = await self._repository.remove_access(kind, checked_id(kind, value))
        await self._refresh_entries()
        return removed

    async def _refresh_entries(self) -> None:
        if self._entries is not None:
            await self._entries.refresh()

    # -- audit ------------------------------------------------------------------------------
    async def audit(self, admin_id: str, action: str, detail: str) -> None:
        await self._repository.audit(admin_id, action[:64], detail[:MAX_DETAIL_CHARS])

    async def audit_log(self, *, limit: int = 200, before: int | None = None) -> list[AuditRow]:
        return await self._repository.audit_log(limit=limit, before=before)


def checked_id(kind: str, value: str) -> str:
    """``platform:id`` (a user or chat id as ``ADMINS``/``ALLOWED_*`` write them)."""
    if kind not in MAX_ID_CHARS:
        raise InvalidSetting(f"unknown list {kind!r}")
    value = value.strip()
    platform, _, rest = value.partition(":")
    if (
        not platform
        or not rest
        or len(value) > MAX_ID_CHARS[kind]
        or any(c.isspace() for c in value)
        or not platform.isalnum()
    ):
        raise InvalidSetting(
            f"{value[:80]!r} is not a {kind} id: write it as platform:id, e.g. telegram:123456"
        )
    return value


def _amount(text: str, name: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidSetting(f"the {name} budget must be a number (or empty)") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidSetting(f"the {name} budget must be zero or more")
    return value


def server_url(public_url: str | None, host: str, port: int) -> str:
    """Where users reach this server: ``PUBLIC_URL``, else ``http://HOST:PORT`` (a wildcard
    ``HOST`` becomes 127.0.0.1, which at least works on this machine)."""
    if public_url:
        return public_url.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    return f"http://{shown}:{port}"


class AdminLinks:
    """``/admin`` in a private chat: a one-time link to the console for an admin."""

    def __init__(self, settings: AdminSettings, base_url: str) -> None:
        self._settings = settings
        self.base_url = base_url.rstrip("/")

    async def link_for(self, admin_id: str) -> str:
        token = await self._settings.issue_link(admin_id)
        return f"{self.base_url}/admin/link/{token}"
