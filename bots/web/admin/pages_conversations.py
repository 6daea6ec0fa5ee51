"""The console's conversations: list and read them, for support. Off unless
``ADMIN_CAN_READ=true`` (the page says so and how to turn it on); when on, every list and every
conversation read is written to the audit log, with the admin who looked."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bots.http import Route
from bots.web.admin.layout import esc, page, table
from core.console import Console

log = logging.getLogger(__name__)

PAGE_SIZE = 50
OFF = (
    "<h1>Conversations</h1>"
    '<div class="off"><p><strong>Reading conversations is off.</strong></p>'
    "<p>The console shows users' conversations only when the operator allows it: set "
    "<code>ADMIN_CAN_READ=true</code> in the environment and restart. Every list and every "
    "conversation opened is then written to the audit log.</p></div>"
)


class ConversationPages:
    """``/admin/conversations`` and ``/admin/conversations/{id}``."""

    def __init__(self, console: Console, gate: Any, *, can_read: bool) -> None:
        self._console = console
        self._gate = gate
        self._can_read = can_read

    def routes(self) -> list[Route]:
        return [
            ("GET", "/admin/conversations", self.listing),
            ("GET", "/admin/conversations/{id}", self.conversation),
        ]

    async def listing(self, request: web.Request) -> web.Response:
        session = self._gate.require(request)
        if not self._can_read:
            return page("Conversations", OFF, session=session, status=403)
        try:
            offset = max(0, int(request.query.get("offset", "0")))
        except ValueError:
            offset = 0
        rows = await self._console.conversations(limit=PAGE_SIZE, offset=offset)
        await self._gate.audit(session, "conversations listed", f"offset {offset}")
        cells = [
            [
                f'<a href="/admin/conversations/{c.id}">{c.id}</a>',
                esc(c.platform),
                esc(_place(c)),
                esc(c.model or "default"),
                f"{c.messages:,}",
                esc(f"{c.updated_at:%Y-%m-%d %H:%M} UTC"),
            ]
            for c in rows
        ]
        more = ""
        if len(rows) == PAGE_SIZE:
            more = f'<p><a href="/admin/conversations?offset={offset + PAGE_SIZE}">Older</a></p>'
        body = (
            "<h1>Conversations</h1>"
            '<p class="muted">Every view is recorded in the audit log.</p>'
            + table(
                ["id", "platform", "chat", "model", "messages", "last active"],
                cells,
                text_columns=4,
            )
            + more
        )
        return page("Conversations", body, session=session)

    async def conversation(self, request: web.Request) -> web.Response:
        session = self._gate.require(request)
        if not self._can_read:
            return page("Conversations", OFF, session=session, status=403)
        try:
            conversation_id = int(request.match_info["id"])
        except ValueError:
            raise web.HTTPNotFound() from None
        found = await self._console.conversation(conversation_id)
        if found is None:
            raise web.HTTPNotFound()
        await self._gate.audit(session, "conversation viewed", f"conversation {conversation_id}")
        log.info("console: %s read conversation %d", session.admin_id, conversation_id)
        conv, messages = found
        shown = "".join(
            f'<div class="msg {esc(m.role)}"><div class="meta">{esc(m.role)}'
            f"{' · ' + esc(m.author) if m.author else ''}"
            f"{' · ' + esc(m.model) if m.model else ''} · "
            f"{esc(f'{m.created_at:%Y-%m-%d %H:%M:%S} UTC')}"
            f"{' · ' + esc(m.status) if m.status != 'complete' else ''}"
            f"{' (' + esc(m.error) + ')' if m.error else ''}</div>"
            f'<div class="body">{esc(m.content)}</div></div>'
            for m in messages
        )
        body = (
            f"<h1>Conversation {conv.id}</h1>"
            f'<p class="muted">{esc(conv.platform)} · {esc(_place(conv))} · '
            f"{conv.messages:,} messages · this view is in the audit log</p>"
            f"{shown or '<p class=muted>No messages.</p>'}"
            '<p><a href="/admin/conversations">All conversations</a></p>'
        )
        return page("Conversations", body, session=session)


def _place(conv: Any) -> str:
    parts = [conv.workspace, conv.chat, conv.thread]
    where = "/".join(p for p in parts if p)
    return f"{where} (#{conv.generation})" if conv.generation else where
