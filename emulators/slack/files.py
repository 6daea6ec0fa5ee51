"""Serves uploaded files at ``url_private(_download)``, only to the bot token.

Without a valid ``Authorization: Bearer`` header Slack answers 200 with its HTML sign-in
page rather than an error status; bots must check the content type, so the emulator does
the same.
"""

from __future__ import annotations

from aiohttp import web

from .state import Workspace

LOGIN_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    "<title>Slack</title></head><body><h1>Sign in to your workspace</h1>"
    '<form action="/signin" method="post"><input name="domain"></form></body></html>'
)


class FileHost:
    """aiohttp handler for ``/files-pri/{team}-{file}/...``; counts downloads per file."""

    def __init__(self, workspace: Workspace, bot_token: str) -> None:
        self.ws = workspace
        self.bot_token = bot_token
        self.downloads: list[tuple[str, bool]] = []  # (file_id, authorized)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["ref"]
        file_id = ref.split("-", 1)[1] if "-" in ref else ref
        authorized = request.headers.get("Authorization", "") == f"Bearer {self.bot_token}"
        self.downloads.append((file_id, authorized))
        if not authorized:
            return web.Response(text=LOGIN_PAGE, content_type="text/html", charset="utf-8")
        hosted = self.ws.files.get(file_id)
        if hosted is None:
            return web.Response(status=404, text="File not found", content_type="text/plain")
        return web.Response(
            body=hosted.data,
            content_type=hosted.mimetype,
            headers={"Content-Disposition": f'attachment; filename="{hosted.name}"'},
        )
