"""Messages to hand the assistant, and the user texts Moonshot received."""

from __future__ import annotations

from typing import Any

from core.types import Author, Incoming
from core.vocabulary import ConversationKey

TEST_KEY = ConversationKey(platform="cli", chat="test")
TEST_AUTHOR = Author(id="cli:alice", name="Alice")


def ask(
    text: str,
    *,
    key: ConversationKey = TEST_KEY,
    author: Author = TEST_AUTHOR,
    group: bool = False,
) -> Incoming:
    """A plain question from ``author`` in ``key``'s conversation."""
    return Incoming(key=key, author=author, text=text, is_group=group)


def user_texts(request: dict[str, Any], roles: tuple[str, ...] = ("user",)) -> list[str]:
    """The contents of a recorded chat request's messages with these roles, in order."""
    return [m["content"] for m in request["messages"] if m["role"] in roles]
