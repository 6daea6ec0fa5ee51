"""One answer, rendered two ways: a ``chat.completion`` object or the list of stream chunks.

Both renderings come from the same :class:`Answer`, so usage is identical on both paths.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any

from emulators.moonshot.answers import default_answer, split_in, split_pieces
from emulators.moonshot.budget import fit
from emulators.moonshot.chat_request import ChatRequest
from emulators.moonshot.demo import demo_answer
from emulators.moonshot.memory import memory_answer
from emulators.moonshot.scripts import ScriptedReply
from emulators.moonshot.thinking import default_reasoning


@dataclass(slots=True)
class Answer:
    """What the model 'says', with the usage to report for it. ``cut``: ``max_tokens`` ended it."""

    content: str
    usage: dict[str, Any]
    finish_reason: str = "stop"
    reasoning: str | None = None
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    cut: bool = False
    id: str = field(default_factory=lambda: f"chatcmpl-{secrets.token_hex(12)}")
    created: int = field(default_factory=lambda: int(time.time()))


def intended_reply(
    request: ChatRequest, reply: ScriptedReply | None, *, demo: bool = False
) -> ScriptedReply:
    """Everything the model means to say before ``max_tokens`` cuts it: the scripted reply, else
    the deterministic default (or demo) answer, or a summary or recall (memory.py); thinking models add reasoning unless scripted."""
    if reply is None:
        text = memory_answer(request.messages, bool(request.body.get("tools")), request.max_tokens)
        if text is None and demo:
            text = demo_answer(request.messages, request.seen)
        reply = ScriptedReply(
            text=text or default_answer(request.model, request.messages, request.seen)
        )
    if request.spec.thinking and reply.reasoning is None:
        reply = replace(reply, reasoning=default_reasoning(request.messages))
    return reply


def build_answer(
    request: ChatRequest, reply: ScriptedReply, extra_prompt_tokens: int = 0
) -> Answer:
    """``reply`` cut at the request's ``max_tokens``, with its usage."""
    fitted = fit(
        reply.reasoning or "", reply.text, list(reply.tool_calls or []), request.max_tokens
    )
    if fitted.cut:
        finish = "length"
    else:
        finish = reply.finish_reason or ("tool_calls" if fitted.tool_calls else "stop")
    usage = make_usage(
        request.prompt_tokens + extra_prompt_tokens,
        fitted.completion_tokens,
        reply.usage,
        request.cached_tokens,
    )
    return Answer(
        content=fitted.content,
        usage=usage,
        finish_reason=finish,
        reasoning=fitted.reasoning or None,
        tool_calls=fitted.tool_calls,
        cut=fitted.cut,
    )


def make_usage(
    prompt: int, completion: int, override: dict[str, int] | None, cached: int = 0
) -> dict[str, Any]:
    """Usage with test overrides (they win over the prefix cache's ``cached``);
    ``cached_tokens`` is shown in both places clients look, when there are any."""
    override = override or {}
    prompt = override.get("prompt_tokens", prompt)
    completion = override.get("completion_tokens", completion)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": override.get("total_tokens", prompt + completion),
    }
    cached = override.get("cached_tokens", min(cached, prompt))
    if cached or "cached_tokens" in override:
        usage["cached_tokens"] = cached
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return usage


def completion_object(answer: Answer, model: str) -> dict[str, Any]:
    """The non-stream ``chat.completion`` body."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    if answer.tool_calls:
        message["tool_calls"] = [
            {
                "index": i,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
            for i, call in enumerate(answer.tool_calls)
        ]
    return {
        "id": answer.id,
        "object": "chat.completion",
        "created": answer.created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
        "usage": answer.usage,
    }


def stream_chunks(answer: Answer, model: str, include_usage: bool) -> list[dict[str, Any]]:
    """The SSE chunk objects in order (``[DONE]`` is the writer's job).

    Role first; reasoning, content and tool-call fragments; then an empty-delta chunk with
    ``finish_reason`` and the usage in ``choices[0].usage`` (Moonshot's place); then, if asked,
    an OpenAI-style usage-only chunk.
    """

    def chunk(delta: dict[str, Any], **choice_extra: Any) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": None, **choice_extra}
        return {
            "id": answer.id,
            "object": "chat.completion.chunk",
            "created": answer.created,
            "model": model,
            "choices": [choice],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"reasoning_content": p}) for p in split_pieces(answer.reasoning or "")]
    chunks += [chunk({"content": p}) for p in split_pieces(answer.content)]
    for index, call in enumerate(answer.tool_calls):
        for number, part in enumerate(split_in(call["arguments"], 3 if call["arguments"] else 2)):
            fragment: dict[str, Any] = {"index": index, "function": {"arguments": part}}
            if number == 0:
                fragment = {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": part},
                }
            chunks.append(chunk({"tool_calls": [fragment]}))
    chunks.append(chunk({}, finish_reason=answer.finish_reason, usage=answer.usage))
    if include_usage:
        chunks.append(
            {
                "id": answer.id,
                "object": "chat.completion.chunk",
                "created": answer.created,
                "model": model,
                "choices": [],
                "usage": answer.usage,
            }
        )
    return chunks
