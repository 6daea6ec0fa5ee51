"""The tool loop: call Kimi, run the tools it asks for, call again, within a bounded round count;
an answer cut at ``max_tokens`` is continued with Moonshot's Partial Mode.

The assistant message that carried the calls is appended unchanged (with a thinking model's
``reasoning_content``, which Moonshot requires on it), then one ``tool`` message per call (ids
are opaque and echoed back). Text streams to the user across rounds as one answer.

Partial Mode (Moonshot's FAQ on ``finish_reason = "length"``): the next request ends with
``{"role": "assistant", "content": <the answer so far>, "partial": true}`` and the reply goes
on from there without repeating it. A thinking model cut while still reasoning sends its
reasoning so far as ``reasoning_content`` of that message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.catalog import ModelSpec
from core.chat_model import ChatModel
from core.kimi import Completion, DeltaCallback, RetryCallback
from core.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

StatusCallback = Callable[[str], Awaitable[None]]
CompletionCallback = Callable[[Completion], Awaitable[None]]
# max_tokens for a call, given the messages and tools it sends.
OutputSizer = Callable[[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]] | None], int]


@dataclass(frozen=True, slots=True)
class RoundHandlers:
    """Where a turn's rounds report: answer text, reasoning, retries, tool status, each call."""

    on_delta: DeltaCallback
    on_retry: RetryCallback
    on_status: StatusCallback
    on_completion: CompletionCallback
    on_reasoning: DeltaCallback | None = None


class ToolLoop:
    def __init__(
        self,
        kimi: ChatModel,
        registry: ToolRegistry,
        max_rounds: int = 5,
        max_continuations: int = 4,
    ) -> None:
        self._kimi = kimi
        self._registry = registry
        self._max_rounds = max_rounds
        self._max_continuations = max_continuations

    async def run(
        self,
        *,
        model: ModelSpec,
        messages: Sequence[Mapping[str, Any]],
        output: OutputSizer,
        temperature: float | None,
        tools: Sequence[Mapping[str, Any]],
        handlers: RoundHandlers,
        lang: str = "en",
    ) -> list[Completion]:
        """Every model call of the turn, in order; the last one carries no tool calls."""
        conversation = list(messages)
        completions: list[Completion] = []

        async def call(
            sent: list[Mapping[str, Any]], offer: Sequence[Mapping[str, Any]] | None
        ) -> Completion:
            completion = await self._kimi.stream(
                model=model,
                messages=sent,
                max_tokens=output(sent, offer),
                temperature=temperature,
                tools=offer,
                on_delta=handlers.on_delta,
                on_retry=handlers.on_retry,
                on_reasoning=handlers.on_reasoning,
            )
            completions.append(completion)
            await handlers.on_completion(completion)
            return completion

        for round_number in range(self._max_rounds + 1):
            offer = tools if round_number < self._max_rounds else ()
            if not offer and tools:
                log.warning(
                    "tool round limit (%d) reached; asking for a final answer", self._max_rounds
                )
            completion = await call(conversation, offer or None)
            if completion.finish_reason == "length":
                await self._continue(completion, conversation, offer or None, call)
                return completions
            if not (offer and completion.tool_calls):
                return completions
            conversation.append(completion.assistant_message())
            for call_ in completion.tool_calls:
                await handlers.on_status(self._registry.status_for(call_, lang))
                conversation.append(
                    {
                        "role": "tool",
                        "tool_call_id": call_.id,
                        "name": call_.name,
                        "content": await self._registry.execute(call_),
                    }
                )
        return completions

    async def _continue(
        self,
        cut: Completion,
        conversation: list[Mapping[str, Any]],
        offer: Sequence[Mapping[str, Any]] | None,
        call: Callable[
            [list[Mapping[str, Any]], Sequence[Mapping[str, Any]] | None], Awaitable[Completion]
        ],
    ) -> None:
        """Continue an answer cut at ``max_tokens`` with Partial Mode, up to the limit. The
        request repeats the cut one's tools, so it differs only by the partial message (and
        Moonshot's prefix cache sees the same prefix); a continuation answers in text."""
        text, reasoning = cut.text, cut.reasoning
        completion = cut
        for number in range(1, self._max_continuations + 1):
            log.info(
                "answer reached max_tokens at %d characters; continuing (%d/%d)",
                len(text),
                number,
                self._max_continuations,
            )
            partial: dict[str, Any] = {"role": "assistant", "content": text, "partial": True}
            if reasoning:
                partial["reasoning_content"] = reasoning
            completion = await call([*conversation, partial], offer)
            if completion.tool_calls:
                log.warning("a continuation asked for tools; its calls are not run")
            text += completion.text
            reasoning += completion.reasoning
            if completion.finish_reason != "length":
                return
        log.warning(
            "answer still cut after %d continuations (%d characters)",
            self._max_continuations,
            len(text),
        )
