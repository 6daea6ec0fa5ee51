"""Decode Bot API request parameters the way the server reads them.

PTB posts form fields (multipart when uploading) where strings go raw and everything else is
JSON-encoded ("42", "true", '{"message_id": 3}'). The Bot API also accepts a JSON body and a
query string. Fields are decoded by name so that a text "123" stays a string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import ApiError

INT_FIELDS = frozenset(
    {
        "message_id",
        "user_id",
        "draft_id",
        "message_thread_id",
        "reply_to_message_id",
        "offset",
        "limit",
        "timeout",
        "max_connections",
        "cache_time",
        "from_chat_id",
        "direct_messages_topic_id",
    }
)
BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "drop_pending_updates",
        "disable_web_page_preview",
        "disable_content_type_detection",
        "show_alert",
        "allow_paid_broadcast",
        "can_stop",
        "keep_on_stop",
        "only_if_banned",
        "has_spoiler",
        "show_caption_above_media",
    }
)
JSON_FIELDS = frozenset(
    {
        "entities",
        "caption_entities",
        "reply_parameters",
        "link_preview_options",
        "allowed_updates",
        "commands",
        "scope",
        "reply_markup",
        "message_ids",
        "reaction",
        "suggested_post_parameters",
    }
)


@dataclass
class Upload:
    """A file part of a multipart request (e.g. sendDocument's ``document``)."""

    field: str
    filename: str
    content_type: str
    data: bytes


def _to_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            return int(float(str(value)))
        except ValueError as exc:
            raise ApiError(400, f"Bad Request: invalid {name} specified") from exc


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def _to_json(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        label = name.replace("_", " ")
        raise ApiError(400, f"Bad Request: can't parse {label} JSON object") from exc


def _to_chat_id(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text


def decode(raw: dict[str, Any]) -> dict[str, Any]:
    """Typed parameters by field name; unknown fields stay as sent."""
    params: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if name == "chat_id":
            params[name] = _to_chat_id(value)
        elif name in INT_FIELDS:
            params[name] = _to_int(name, value)
        elif name in BOOL_FIELDS:
            params[name] = _to_bool(value)
        elif name in JSON_FIELDS:
            params[name] = _to_json(name, value)
        else:
            params[name] = value
    return params


async def read_request(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Collect query, form/multipart or JSON parameters plus uploaded files."""
    raw: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.method == "POST" and request.can_read_body:
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise ApiError(400, "Bad Request: can't parse JSON request body") from exc
            if isinstance(body, dict):
                raw.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[name] = Upload(
                        field=name,
                        filename=value.filename or name,
                        content_type=value.content_type or "application/octet-stream",
                        data=value.file.read(),
                    )
                elif isinstance(value, bytes | bytearray):
                    raw[name] = bytes(value).decode("utf-8", errors="replace")
                else:
                    raw[name] = value
    return decode(raw), uploads


def require(params: dict[str, Any], name: str, description: str | None = None) -> Any:
    """A mandatory parameter, with the server's 'is empty' style error when missing."""
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(400, description or f"Bad Request: {name} is empty")
    return value
