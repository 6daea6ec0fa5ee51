"""Files people share: each becomes an ``Attachment`` whose ``fetch`` downloads it with the bot token.

Slack answers a download without permission (no ``files:read`` scope) with its HTML sign-in
page and status 200, not an error; so the content type decides, and the adapter checks access
before handing a file to the core, to say clearly what is wrong instead of ingesting HTML.

What a file is for the core: a PNG/JPEG/WebP/GIF is an image (Kimi looks at it); an audio file,
or a clip recorded in Slack, is audio (its words are transcribed). Slack records clips as
``subtype`` ``slack_audio`` (sometimes labelled ``video/mp4``) or ``slack_video`` (a camera
clip): both are treated as audio, for what is said in them; a video file uploaded as such is
not a clip and stays a document. ``duration_ms`` gives a clip's length.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from core.attachment_kinds import AUDIO, IMAGE, IMAGE_TYPES
from core.documents.formats import MAX_FILE_BYTES, DocumentRejected
from core.types import Attachment

log = logging.getLogger(__name__)

CLIP_SUBTYPES = frozenset({"slack_audio", "slack_video"})  # recorded in Slack: clips


class FileProblem(DocumentRejected):
    """A file the bot cannot use; ``message(lang)`` says why (``reason``, ``str()``: English).

    A ``DocumentRejected``, so a problem that only shows at ``fetch`` time (access revoked
    after the check) still ends as a clear reply from the core's ingestion.
    """


class SlackFiles:
    """Downloads ``url_private_download`` with ``Authorization: Bearer <bot token>``."""

    def __init__(self, token: str, timeout: float = 300.0) -> None:
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def attachment(self, file: dict[str, Any]) -> Attachment:
        """The file as the core sees it, after checking size and access; FileProblem otherwise."""
        name = str(file.get("name") or file.get("title") or file.get("id") or "file")
        size = int(file.get("size") or 0)
        mime_type = str(file.get("mimetype") or "application/octet-stream")
        url = str(file.get("url_private_download") or file.get("url_private") or "")
        if size > MAX_FILE_BYTES:
            raise _too_big(name, size)
        if not url:
            raise FileProblem("slack_file_unavailable", name=name, status="no download link")
        await self._check_access(url, name, mime_type)

        async def fetch() -> bytes:
            return await self.download(url, name, mime_type)

        kind, duration = media_of(file)
        return Attachment(
            name=name, mime_type=mime_type, size=size, fetch=fetch, kind=kind, duration=duration
        )

    async def download(self, url: str, name: str, mime_type: str) -> bytes:
        try:
            async with self._http().get(url, headers=self._auth()) as response:
                _raise_for(response, name, mime_type)
                chunks: list[bytes] = []
                total = 0
                async for chunk in response.content.iter_chunked(1 << 16):
                    total += len(chunk)
                    if total > MAX_FILE_BYTES:
                        raise _too_big(name, total)
                    chunks.append(chunk)
                return b"".join(chunks)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("downloading %s from Slack failed: %s", name, type(error).__name__)
            raise FileProblem(
                "slack_file_unavailable", name=name, status=type(error).__name__
            ) from error

    async def _check_access(self, url: str, name: str, mime_type: str) -> None:
        """Headers only: the body is not read, so a large file costs nothing here."""
        async with self._http().get(url, headers=self._auth()) as response:
            _raise_for(response, name, mime_type)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}


def media_of(file: dict[str, Any]) -> tuple[str, float | None]:
    """The kind the core should give this file ("" lets it decide) and a clip's seconds."""
    mime = str(file.get("mimetype") or "").split(";")[0].strip().lower()
    subtype = str(file.get("subtype") or "")
    duration_ms = file.get("duration_ms")
    duration = duration_ms / 1000 if isinstance(duration_ms, int | float) else None
    if subtype in CLIP_SUBTYPES or mime.startswith("audio/"):
        return AUDIO, duration
    if mime in IMAGE_TYPES:
        return IMAGE, None
    return "", None


def _raise_for(response: aiohttp.ClientResponse, name: str, mime_type: str) -> None:
    if response.status != 200:
        raise FileProblem("slack_file_unavailable", name=name, status=f"HTTP {response.status}")
    if response.content_type == "text/html" and mime_type != "text/html":
        log.warning("Slack answered %s with HTML: the app lacks files:read", name)
        raise FileProblem("slack_no_permission", name=name)


def _too_big(name: str, size: int) -> FileProblem:
    limit = MAX_FILE_BYTES >> 20
    return FileProblem("slack_file_too_big", name=name, size=size / 1024 / 1024, limit=limit)
