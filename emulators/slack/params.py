"""Request parameters as one dict, whichever way slack-sdk sent them (query, form or JSON)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .errors import ApiError

# Fields slack-sdk JSON-encodes into a string when it sends a form body.
_JSON_FIELDS = ("blocks", "attachments", "chunks", "metadata", "loading_messages", "prompts")


async def read_params(request: web.Request) -> dict[str, Any]:
    """Merge query string, form and JSON body (later wins), decoding JSON-in-form fields."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError as exc:
                raise ApiError("invalid_json") from exc
            if not isinstance(body, dict):
                raise ApiError("invalid_json")
            params.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key in _JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str):
            params[key] = _decode_json_field(key, value)
    return params


def _decode_json_field(key: str, value: str) -> Any:
    stripped = value.strip()
    if stripped.startswith(("[", "{")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ApiError(
                "invalid_blocks_format" if key == "blocks" else "invalid_arguments"
            ) from exc
    if key == "loading_messages":
        return [part for part in value.split(",") if part]
    return value


def req_str(params: dict[str, Any], key: str, error: str = "invalid_arguments") -> str:
    """A required string argument; Slack answers a specific error when it is missing."""
    value = params.get(key)
    if value is None or value == "":
        raise ApiError(error)
    return str(value)


def opt_str(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    return None if value is None or value == "" else str(value)
