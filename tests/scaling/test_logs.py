"""``LOG_FORMAT=json``: one JSON object per line with worker and conversation, and no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.log_context import bind_worker, conversation_scope
from core.logs import configure_logging
from core.types import Author, CollectingSink, ConversationKey, Incoming

SECRET = "sk-json-log-secret-0123456789"
KEY = ConversationKey(platform="slack", workspace="T1", chat="D9", thread="")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root logger writing JSON into a buffer (restored afterwards)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO", [SECRET], log_format="json")
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    bind_worker(None)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_records_are_json_with_worker_and_conversation(json_log: io.StringIO) -> None:
    bind_worker("host-1-abc")
    log = logging.getLogger("kimi.test")
    with conversation_scope(KEY):
        log.warning("calling Moonshot with key %s", SECRET)
    log.info("outside a turn")
    first, second = lines(json_log)
    assert first["level"] == "WARNING" and first["logger"] == "kimi.test"
    assert first["worker"] == "host-1-abc"
    assert first["conversation"] == "slack:T1:D9"
    assert first["conversation_key"] == {
        "platform": "slack",
        "workspace": "T1",
        "chat": "D9",
        "thread": "",
    }
    assert SECRET not in json_log.getvalue() and "***" in first["message"]
    assert "conversation" not in second and second["worker"] == "host-1-abc"


def test_tracebacks_are_one_redacted_field(json_log: io.StringIO) -> None:
    try:
        raise RuntimeError(f"boom with {SECRET}")
    except RuntimeError:
        logging.getLogger("kimi.test").exception("failed")
    [record] = lines(json_log)
    assert "RuntimeError" in record["error"] and SECRET not in record["error"]


async def test_engine_logs_carry_the_turns_conversation(services, moonshot, json_log) -> None:
    from emulators.moonshot import Fault

    moonshot.inject(Fault(kind="auth"))
    incoming = Incoming(key=KEY, author=Author(id="slack:U1", name="Ann"), text="hello")
    await services.assistant.handle(incoming, CollectingSink())
    failures = [r for r in lines(json_log) if "turn failed" in r["message"]]
    assert failures and failures[0]["conversation"] == "slack:T1:D9"
