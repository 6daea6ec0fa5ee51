"""The one call a turn needs from a chat model, so the tool loop can take the plain client or
the rate-limited wrapper alike (:class:`core.kimi.KimiClient`, :class:`core.limits.LimitedKimi`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from core.catalog import ModelSpec
from core.kimi import Completion, DeltaCallback, RetryCallback


class ChatModel(Protocol):
    """Streams one answer; text goes to ``on_delta`` and a thinking model's reasoning to
    ``on_reasoning`` as they arrive, retries are announced through ``on_retry``, and every
    failure is a typed ``KimiError``."""

    async def stream(
        self,
        *,
        model: ModelSpec,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int,
        temperature: float | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        on_delta: DeltaCallback | None = None,
        on_retry: RetryCallback | None = None,
        on_reasoning: DeltaCallback | None = None,
    ) -> Completion: ...
