"""What a test can tell the emulator to do next: scripted answers and injected faults.

Both are plain dataclasses so the in-process API (``emu.enqueue``/``emu.inject``) and the HTTP
control API (JSON bodies with the same field names) share one definition and one validation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

FAULT_KINDS: frozenset[str] = frozenset(
    {
        "rate_limit",
        "tpm_limit",
        "tpd_limit",
        "overloaded",
        "quota",
        "server_error",
        "auth",
        "content_filter",
        "drop_stream",
        "stall_stream",
        "slow_tokens",
        "timeout_504",
        "stt_error",
        "stt_slow",
        "stt_rate_limit",
    }
)
# Faults for ``/v1/audio/transcriptions``: chat requests never take them, and it takes no others.
SPEECH_FAULTS: frozenset[str] = frozenset({"stt_error", "stt_slow", "stt_rate_limit"})

FINISH_REASONS: frozenset[str] = frozenset({"stop", "length", "tool_calls", "content_filter"})


@dataclass(slots=True)
class ScriptedReply:
    """The next chat-completion answer, instead of the default echo.

    ``tool_calls`` items are ``{"id", "name", "arguments"}``; ``arguments`` may be a dict (it is
    sent JSON-encoded) and ``id`` defaults to the opaque ``functions.<name>:<i>`` form. ``usage``
    keys (``prompt_tokens``, ``completion_tokens``, ``total_tokens``, ``cached_tokens``) override
    the estimated ones.
    """

    text: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    usage: dict[str, int] | None = None
    reasoning: str | None = None
    finish_reason: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ValueError("ScriptedReply.text must be a string")
        if self.finish_reason is not None and self.finish_reason not in FINISH_REASONS:
            raise ValueError(f"ScriptedReply.finish_reason must be one of {sorted(FINISH_REASONS)}")
        if self.tool_calls is not None:
            self.tool_calls = [_normalise_tool_call(i, c) for i, c in enumerate(self.tool_calls)]
        if self.usage is not None:
            for key, value in self.usage.items():
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"ScriptedReply.usage[{key!r}] must be an int >= 0")

    @classmethod
    def from_json(cls, data: Any) -> ScriptedReply:
        """Build from a control-API body; unknown keys are an error so typos do not pass silently."""
        return cls(**_known_keys(cls, data))


@dataclass(slots=True)
class Fault:
    """A failure the next ``times`` chat-completion requests get, in injection order.

    ``wait_seconds`` is the wait quoted in a ``rate_limit`` message (``tpm_limit`` and
    ``tpd_limit`` quote none, as Moonshot's TPM/TPD 429s do); ``after_chunks`` is how many
    SSE chunks (role chunk included) are sent before ``drop_stream``/``stall_stream`` happen;
    ``stall_seconds`` is how long a stall lasts before the stream resumes; ``delay`` is the
    per-chunk delay of ``slow_tokens`` and the wait before a ``stt_slow`` transcription answers
    (``stt_*`` faults apply to transcription requests only). ``abort`` makes ``drop_stream`` cut the TCP connection
    mid-body (a protocol error for the client) instead of ending the body without ``[DONE]``.
    """

    kind: str
    times: int = 1
    wait_seconds: int = 1
    after_chunks: int = 3
    stall_seconds: float = 30.0
    delay: float = 0.2
    abort: bool = False
    remaining: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(FAULT_KINDS)}")
        for name in ("times", "wait_seconds", "after_chunks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Fault.{name} must be an int >= 0")
        if self.times < 1:
            raise ValueError("Fault.times must be >= 1")
        for name in ("stall_seconds", "delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"Fault.{name} must be a number >= 0")
        self.remaining = self.times

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """Build from a control-API body; unknown keys are an error so typos do not pass silently."""
        values = _known_keys(cls, data)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class ScriptedTranscript:
    """The next transcription's text, instead of the default one derived from the file;
    ``duration`` (seconds) and ``language`` replace the measured/requested ones when given."""

    text: str
    duration: float | None = None
    language: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ValueError("ScriptedTranscript.text must be a string")
        duration = self.duration
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0
        ):
            raise ValueError("ScriptedTranscript.duration must be a number >= 0")
        if self.language is not None and not isinstance(self.language, str):
            raise ValueError("ScriptedTranscript.language must be a string")

    @classmethod
    def from_json(cls, data: Any) -> ScriptedTranscript:
        """A bare string is the text; an object has the field names."""
        if isinstance(data, str):
            return cls(text=data)
        return cls(**_known_keys(cls, data))


def _known_keys(cls: type, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} body must be a JSON object")
    names = {f.name for f in fields(cls) if f.init}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}")
    return dict(data)


def _normalise_tool_call(index: int, call: Any) -> dict[str, Any]:
    if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
        raise ValueError("each ScriptedReply.tool_calls item needs a non-empty 'name'")
    arguments = call.get("arguments", "{}")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    call_id = call.get("id") or f"functions.{call['name']}:{index}"
    return {"id": str(call_id), "name": call["name"], "arguments": arguments}
