"""The console's shared chrome: navigation, the logout form, the stylesheet and the security
headers (the web chat's strict CSP: no inline script or style, nothing from another origin).

Every console page, the dashboard's and the settings', is built by :func:`page`, so the
navigation and the headers are the same everywhere. Pages are server-rendered HTML; every
value put in them goes through :func:`esc`.
"""

from __future__ import annotations

import functools
from html import escape
from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web

from bots.web.adapter import SECURITY_HEADERS

if TYPE_CHECKING:
    from bots.web.admin.auth import AdminSession

NAV = (
    ("Overview", "/admin"),
    ("Usage", "/admin/usage"),
    ("Live", "/admin/live"),
    ("Quality", "/admin/quality"),
    ("Conversations", "/admin/conversations"),
    ("Settings", "/admin/settings"),
    ("Audit", "/admin/audit"),
)
STYLESHEET = "admin.css"
# "same-origin", not the chat's "no-referrer": under no-referrer browsers send ``Origin: null``
# on every form POST, and the gate's cross-site check needs the real origin.
HTML_HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}


def esc(value: object) -> str:
    """Text for HTML (element content or a quoted attribute)."""
    return escape(str(value), quote=True)


@functools.cache
def stylesheet() -> bytes:
    """The console's CSS, shipped in the package beside the web chat's (read once)."""
    return resources.files("bots.web").joinpath("static", STYLESHEET).read_bytes()


def _nav(active: str, session: AdminSession | None) -> str:
    if session is None:
        return '<header class="top"><span class="brand">kimi-bot console</span></header>'
    links = "".join(
        f'<a href="{href}"{" aria-current=page" if name == active else ""}>{name}</a>'
        for name, href in NAV
    )
    logout = (
        '<form method="post" action="/admin/logout">'
        f'<input type="hidden" name="csrf" value="{esc(session.csrf)}">'
        '<button type="submit">Log out</button></form>'
    )
    return (
        '<header class="top"><span class="brand">kimi-bot console</span>'
        f'<nav aria-label="Console">{links}</nav>{logout}</header>'
    )


def page(
    title: str,
    body_html: str,
    *,
    session: AdminSession | None,
    status: int = 200,
    active: str = "",
) -> web.Response:
    """A whole console page: ``body_html`` (already escaped) under the navigation.

    ``session`` None: no navigation and no logout (the login page, a page for the logged out).
    ``active`` names the navigation entry to mark; by default the one whose name is ``title``.
    """
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · kimi-bot console</title>"
        f'<link rel="stylesheet" href="/admin/static/{STYLESHEET}"></head><body>'
        f"{_nav(active or title, session)}<main>{body_html}</main></body></html>"
    )
    return web.Response(status=status, text=html, content_type="text/html", headers=HTML_HEADERS)


async def static(request: web.Request) -> web.Response:
    """``GET /admin/static/{name}``: the stylesheet (public: it holds nothing of the bot)."""
    if request.match_info.get("name") != STYLESHEET:
        raise web.HTTPNotFound()
    return web.Response(
        body=stylesheet(),
        content_type="text/css",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


def table(headers: list[str], rows: list[list[str]], *, text_columns: int = 1) -> str:
    """A scrollable table; cells are already-escaped HTML. The first ``text_columns`` columns
    are left-aligned (names), the rest right-aligned (numbers)."""

    def cells(tag: str, values: list[str]) -> str:
        return "".join(
            f"<{tag}{' class=text' if i < text_columns else ''}>{v}</{tag}>"
            for i, v in enumerate(values)
        )

    head = f"<thead><tr>{cells('th', [esc(h) for h in headers])}</tr></thead>"
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    if not rows:
        body = f'<tr><td class="text muted" colspan="{len(headers)}">nothing yet</td></tr>'
    return f'<div class="scroll"><table>{head}<tbody>{body}</tbody></table></div>'


def card(label: str, value: str, note: str = "", *, css: str = "") -> str:
    """One at-a-glance number (``value`` and ``note`` are already-escaped HTML)."""
    extra = f" {css}" if css else ""
    return (
        f'<div class="card{extra}"><div class="label">{esc(label)}</div>'
        f'<div class="big">{value}</div><div class="note">{note}</div></div>'
    )


def panel(chart_html: str, extra: str = "") -> str:
    """A chart in its panel (scrolling sideways on a narrow screen) and what follows it."""
    return f'<section class="panel"><div class="chart-box">{chart_html}</div>{extra}</section>'
