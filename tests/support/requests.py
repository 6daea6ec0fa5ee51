"""What a recorded Moonshot request carried (document contents)."""

from __future__ import annotations

import json
from typing import Any


def document_contents(request: dict[str, Any]) -> dict[str, str]:
    """filename -> content of the document system messages (Moonshot's file-content shape)."""
    found = {}
    for message in request["messages"]:
        if message["role"] != "system":
            continue
        try:
            payload = json.loads(message["content"])
        except json.JSONDecodeError:
            continue
        if isinstance(payload, dict) and payload.get("type") == "file":
            found[payload["filename"]] = payload["content"]
    return found
