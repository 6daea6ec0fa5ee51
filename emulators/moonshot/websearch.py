"""The built-in ``$web_search`` round trip: the model asks, the client echoes, the server bills.

When the tool result comes back its search tokens join ``prompt_tokens``, as the real service
charges the search content as input.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from emulators.moonshot.answers import last_user_text
from emulators.moonshot.tokens import content_text, estimate_tokens

TOOL_NAME = "$web_search"
TRIGGER = re.compile(r"search|news", re.IGNORECASE)


class SearchMismatch(ValueError):
    """A ``$web_search`` tool result that is not the unchanged arguments of the call."""


@dataclass(frozen=True, slots=True)
class SearchCall:
    id: str
    arguments: str


def wants_search(messages: list[dict[str, Any]]) -> bool:
    """The last message is a user message that mentions searching or news."""
    last = messages[-1]
    return last.get("role") == "user" and bool(TRIGGER.search(content_text(last.get("content"))))


def issue(searches: dict[str, int], number: int, query: str) -> SearchCall:
    """A new opaque call id and arguments; the tokens the search will cost are remembered."""
    search_id = secrets.token_hex(12)
    tokens = 1000 + 10 * estimate_tokens(query)
    searches[search_id] = tokens
    arguments = json.dumps(
        {"search_result": {"search_id": search_id}, "usage": {"total_tokens": tokens}},
        separators=(",", ":"),
    )
    return SearchCall(id=f"search:{number}", arguments=arguments)


def returned_search_tokens(messages: list[dict[str, Any]], searches: dict[str, int]) -> int | None:
    """Tokens of the ``$web_search`` results that end the conversation, or None if there are none.

    Raises :class:`SearchMismatch` when such a result is not what the server handed out.
    """
    names = _call_names(messages)
    total: int | None = None
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        if names.get(message.get("tool_call_id")) != TOOL_NAME and message.get("name") != TOOL_NAME:
            continue
        total = (total or 0) + _verify(content_text(message.get("content")), searches)
    return total


def search_answer(messages: list[dict[str, Any]]) -> str:
    query = last_user_text(messages)
    return (
        f'Based on the web search results for "{query[:200]}": the emulator found nothing '
        "newer than its training data."
    )


def _verify(content: str, searches: dict[str, int]) -> int:
    try:
        data = json.loads(content)
        search_id = data["search_result"]["search_id"]
        tokens = data["usage"]["total_tokens"]
    except (ValueError, KeyError, TypeError):
        raise SearchMismatch("send the $web_search arguments back unchanged") from None
    if not isinstance(search_id, str) or searches.get(search_id) != tokens or len(data) != 2:
        raise SearchMismatch(f"unknown or altered $web_search result {search_id!r}")
    return tokens


def _call_names(messages: list[dict[str, Any]]) -> dict[Any, str]:
    names: dict[Any, str] = {}
    for message in messages:
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    names[call.get("id")] = call["function"].get("name", "")
    return names
