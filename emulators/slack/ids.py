"""Identifiers shaped like Slack's: message timestamps, event ids, envelope ids."""

from __future__ import annotations

import secrets
import string
import time
import uuid

_ALNUM = string.ascii_uppercase + string.digits


def random_id(prefix: str, length: int = 10) -> str:
    """A Slack-style object id (``F0ABC...``, ``Ev0ABC...``): prefix plus upper-case alnum."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def new_event_id() -> str:
    """Events API ``event_id``: what bots must deduplicate on."""
    return random_id("Ev")


def new_envelope_id() -> str:
    """Socket Mode ``envelope_id`` (a UUID in real Slack)."""
    return str(uuid.uuid4())


class TsClock:
    """Hands out message ``ts`` values: ``seconds.micros``, strictly increasing.

    Slack's ``ts`` is a message's identity inside a channel, so two messages must
    never share one even when created within the same microsecond.
    """

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> str:
        micros = max(int(time.time() * 1_000_000), self._last + 1)
        self._last = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
