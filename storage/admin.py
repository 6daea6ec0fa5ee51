"""The operator console's data: one-time sign-in links, per-user budgets, allow-list entries
added in the console, and the audit log of console actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import AccessEntry, AdminAudit, AdminLink, UserBudget, utcnow
from storage.write_gate import WriteGate

LINK_KEPT_AFTER_EXPIRY = timedelta(days=1)  # spent/expired links are deleted after this


@dataclass(frozen=True, slots=True)
class BudgetRow:
    user_id: str
    daily: float | None
    monthly: float | None
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AccessRow:
    kind: str  # "user" or "chat"
    value: str
    added_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    admin_id: str
    action: str
    detail: str


class AdminRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = WriteGate.of(engine)  # every write takes its turn in the one line

    # -- one-time links ---------------------------------------------------------------------
    async def add_link(self, token_hash: str, admin_id: str, expires_at: datetime) -> None:
        now = utcnow()
        async with self._writes.transaction() as connection:
            await connection.execute(
                delete(AdminLink).where(AdminLink.expires_at < now - LINK_KEPT_AFTER_EXPIRY)
            )
            await connection.execute(
                insert(AdminLink).values(
                    token_hash=token_hash, admin_id=admin_id, expires_at=expires_at, created_at=now
                )
            )

    async def link_admin(self, token_hash: str, now: datetime) -> str | None:
        """Whose link this is, if it is unspent and unexpired (nothing is changed)."""
        query = select(AdminLink.admin_id).where(
            AdminLink.token_hash == token_hash,
            AdminLink.used_at.is_(None),
            AdminLink.expires_at > now,
        )
        async with self._engine.connect() as connection:
            found = (await connection.execute(query)).scalar()
        return str(found) if found is not None else None

    async def consume_link(self, token_hash: str, now: datetime) -> str | None:
        """Spend the link: its admin id the first time (one UPDATE: one winner across
        workers), None when unknown, spent or expired."""
        async with self._writes.transaction() as connection:
            changed = await connection.execute(
                update(AdminLink)
                .where(
                    AdminLink.token_hash == token_hash,
                    AdminLink.used_at.is_(None),
                    AdminLink.expires_at > now,
                )
                .values(used_at=now)
            )
            if changed.rowcount != 1:
                return None
            found = await connection.scalar(
                select(AdminLink.admin_id).where(AdminLink.token_hash == token_hash)
            )
        return str(found)

    # -- per-user budgets -------------------------------------------------------------------
    async def budgets(self) -> list[BudgetRow]:
        query = select(UserBudget).order_by(UserBudget.user_id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [BudgetRow(r.user_id, r.daily, r.monthly, r.updated_by, r.updated_at) for r in rows]

    async def set_budget(
        self, user_id: str, daily: float | None, monthly: float | None, by: str
    ) -> None:
        values = {"daily": daily, "monthly": monthly, "updated_by": by, "updated_at": utcnow()}
        for _ in range(2):  # a concurrent first write for the same user: update on the retry
            async with self._writes.transaction() as connection:
                changed = await connection.execute(
                    update(UserBudget).where(UserBudget.user_id == user_id).values(**values)
                )
                if changed.rowcount:
                    return
            try:
                async with self._writes.transaction() as connection:
                    await connection.execute(insert(UserBudget).values(user_id=user_id, **values))
                return
            except IntegrityError:
                continue

    async def remove_budget(self, user_id: str) -> bool:
        async with self._writes.transaction() as connection:
            gone = await connection.execute(delete(UserBudget).where(UserBudget.user_id == user_id))
        return bool(gone.rowcount)

    # -- allow-list entries -----------------------------------------------------------------
    async def access_entries(self) -> list[AccessRow]:
        query = select(AccessEntry).order_by(AccessEntry.kind, AccessEntry.value)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [AccessRow(r.kind, r.value, r.added_by, r.created_at) for r in rows]

    async def add_access(self, kind: str, value: str, by: str) -> bool:
        """False when the entry was there already."""
        try:
            async with self._writes.transaction() as connection:
                await connection.execute(
                    insert(AccessEntry).values(
                        kind=kind, value=value, added_by=by, created_at=utcnow()
                    )
                )
        except IntegrityError:
            return False
        return True

    async def remove_access(self, kind: str, value: str) -> bool:
        async with self._writes.transaction() as connection:
            gone = await connection.execute(
                delete(AccessEntry).where(AccessEntry.kind == kind, AccessEntry.value == value)
            )
        return bool(gone.rowcount)

    # -- audit log --------------------------------------------------------------------------
    async def audit(self, admin_id: str, action: str, detail: str) -> None:
        async with self._writes.transaction() as connection:
            await connection.execute(
                insert(AdminAudit).values(
                    at=utcnow(), admin_id=admin_id, action=action, detail=detail
                )
            )

    async def audit_log(self, *, limit: int = 200, before: int | None = None) -> list[AuditRow]:
        """The newest ``limit`` rows (older than row ``before`` when given), newest first."""
        query = select(AdminAudit).order_by(AdminAudit.id.desc()).limit(limit)
        if before is not None:
            query = query.where(AdminAudit.id < before)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [AuditRow(int(r.id), r.at, r.admin_id, r.action, r.detail) for r in rows]
