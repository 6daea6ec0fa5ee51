"""The tool loop: call Kimi, run the tools it asks for, call again, within a bounded round count.

The assistant message that carried the calls is appended unchanged, then one ``tool`` message
per call (ids are opaque and echoed back). Text streams to the user across rounds as one answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from core.catalog import ModelSpec
from core.chat_model import ChatModel
from core.kimi import Completion, DeltaCallback, RetryCallback
from core.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

StatusCallback = Callable[[str], Awaitable[None]]
CompletionCallback = Callable[[Completion], Awaitable[None]]


class ToolLoop:
    def __init__(self, kimi: ChatModel, registry: ToolRegistry, max_rounds: int = 5) -> None:
        self._kimi = kimi
        self._registry = registry
        self._max_rounds = max_rounds

    async def run(
        self,
        *,
        model: ModelSpec,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int,
        temperature: float | None,
        tools: Sequence[Mapping[str, Any]],
        on_delta: DeltaCallback,
        on_retry: RetryCallback,
        on_status: StatusCallback,
        on_completion: CompletionCallback,
        lang: str = "en",
    ) -> list[Completion]:
        """Every model call of the turn, in order; the last one carries no tool calls."""
        conversation = list(messages)
        completions: list[Completion] = []
        for round_number in range(self._max_rounds + 1):
            offer = tools if round_number < self._max_rounds else ()
            if not offer and tools:
                log.warning(
                    "tool round limit (%d) reached; asking for a final answer", self._max_rounds
                )
            completion = await self._kimi.stream(
                model=model,
                messages=conversation,
                max_tokens=max_tokens,
                temperature=temperature,
                tools=offer or None,
                on_delta=on_delta,
                on_retry=on_retry,
            )
            completions.append(completion)
            await on_completion(completion)
            if not (offer and completion.tool_calls):
                return completions
            conversation.append(completion.assistant_message())
            for call in completion.tool_calls:
                await on_status(self._registry.status_for(call, lang))
                conversation.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "name": call.name,
                        "content": await self._registry.execute(call),
                    }
                )
        return completions
