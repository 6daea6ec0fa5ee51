"""Moonshot's files API (``purpose="file-extract"``) through the official SDK.

We keep our own copy of every extraction, so a remote file is deleted as soon as its text is
read; that keeps the account far from its 1,000-file quota. Uploads are named with a prefix so
that, when the quota is hit anyway (a crash between upload and delete), we can recognise and
delete only our own leftovers, then retry once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import openai

from core import errors
from core.kimi import error_from_status

log = logging.getLogger(__name__)

UPLOAD_PREFIX = "kimi-bot-"


class ExtractionFailed(Exception):
    """Moonshot could not read the file (``status: error`` or 500 "Failed to extract file")."""


@dataclass(frozen=True, slots=True)
class Extraction:
    content: str
    file_type: str
    token_count: int | None


class MoonshotExtractor:
    def __init__(self, sdk: openai.AsyncOpenAI, token_model: str) -> None:
        self._sdk = sdk
        self._token_model = token_model

    async def extract(self, name: str, data: bytes, mime_type: str) -> Extraction:
        try:
            file_id = await self._upload(name, data, mime_type)
        except _QuotaFull:
            removed = await self.delete_leftovers()
            log.warning("Moonshot file quota reached; deleted %d leftover files, retrying", removed)
            file_id = await self._upload(name, data, mime_type)
        try:
            raw = await self._sdk.files.content(file_id)
            payload = _parse_content(raw.text)
        except openai.APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code == 400:
                raise ExtractionFailed(_message(exc)) from None
            raise error_from_status(exc) from None
        finally:
            await self._delete(file_id)
        content = str(payload.get("content") or "")
        if not content.strip():
            raise ExtractionFailed("no text could be extracted")
        tokens = await self._count_tokens(content)
        return Extraction(content, str(payload.get("file_type") or ""), tokens)

    async def _upload(self, name: str, data: bytes, mime_type: str) -> str:
        try:
            uploaded = await self._sdk.files.create(
                file=(UPLOAD_PREFIX + name, data, mime_type or "application/octet-stream"),
                purpose="file-extract",  # type: ignore[arg-type]
            )
        except openai.APIStatusError as exc:
            message = _message(exc)
            if "max file count" in message.lower():
                raise _QuotaFull(message) from None
            if exc.status_code >= 500 and "extract" in message.lower():
                raise ExtractionFailed(message) from None
            raise error_from_status(exc) from None
        except openai.APIConnectionError:
            raise errors.StreamInterrupted("connection error while uploading a file") from None
        if getattr(uploaded, "status", "ok") == "error":
            await self._delete(uploaded.id)
            detail = getattr(uploaded, "status_details", "") or "status error"
            raise ExtractionFailed(str(detail))
        return uploaded.id

    async def _delete(self, file_id: str) -> None:
        try:
            await self._sdk.files.delete(file_id)
        except openai.APIError as exc:
            log.warning("could not delete Moonshot file %s: %s", file_id, type(exc).__name__)

    async def delete_leftovers(self) -> int:
        """Delete this bot's own uploads still on the account (never other apps' files)."""
        removed = 0
        async for remote in self._sdk.files.list():
            if str(getattr(remote, "filename", "")).startswith(UPLOAD_PREFIX):
                await self._delete(remote.id)
                removed += 1
        return removed

    async def _count_tokens(self, content: str) -> int | None:
        """Moonshot's own count (the truth for windows); None if the endpoint is unavailable."""
        try:
            answer = await self._sdk.post(
                "/tokenizers/estimate-token-count",
                body={
                    "model": self._token_model,
                    "messages": [{"role": "system", "content": content}],
                },
                cast_to=object,
            )
        except openai.APIError as exc:
            log.info(
                "token estimate unavailable (%s); using the local estimate", type(exc).__name__
            )
            return None
        try:
            return int(answer["data"]["total_tokens"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            return None


class _QuotaFull(Exception):
    pass


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return exc.message


def _parse_content(text: str) -> dict[str, object]:
    """The content endpoint answers a JSON object as a string; tolerate plain text too."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return {"content": text, "file_type": ""}
    return payload if isinstance(payload, dict) else {"content": str(payload)}
