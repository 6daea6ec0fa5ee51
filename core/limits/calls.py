"""A chat model for one turn whose every Moonshot call goes through the limiter.

Each ``stream`` call (every round of the tool loop is one) is admitted with the prompt estimate
plus ``max_tokens``, holds its concurrency slot until the stream ends, counts each client-side
retry as another request, lowers the account limits when Moonshot answers 429 anyway, and
reconciles the TPM entry with Moonshot's ``usage``. The wait notice is shown once per turn.

    kimi = LimitedKimi(client, limiter, user_id=incoming.author.id,
                       estimator=estimator, on_wait=notice)
    completion = await kimi.stream(model=spec, messages=..., max_tokens=...)   # a ChatModel
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from core import errors
from core.catalog import ModelSpec
from core.chat_model import ChatModel
from core.kimi import Completion, DeltaCallback, RetryCallback
from core.limits.limiter import Limiter
from core.tokens import TokenEstimator

WaitCallback = Callable[[float], Awaitable[None]]


class LimitedKimi:
    """A :class:`ChatModel` around another; attributes other than ``stream`` are the wrapped
    model's own."""

    def __init__(
        self,
        kimi: ChatModel,
        limiter: Limiter,
        *,
        user_id: str,
        estimator: TokenEstimator | None = None,
        on_wait: WaitCallback | None = None,
    ) -> None:
        self._kimi = kimi
        self._limiter = limiter
        self._user_id = user_id
        self._estimator = estimator or TokenEstimator()
        self._on_wait = on_wait
        self.waited = 0.0  # seconds this turn spent queued for the limits

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kimi, name)

    def estimate(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None
    ) -> int:
        """Prompt tokens as Moonshot will count them: messages, plus the tool schemas sent."""
        tokens = self._estimator.messages(messages)
        if tools:
            tokens += self._estimator.text(json.dumps(list(tools), ensure_ascii=False))
        return tokens

    async def _notice(self, seconds: float) -> None:
        callback, self._on_wait = self._on_wait, None  # once per turn
        if callback is not None:
            await callback(seconds)

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
    ) -> Completion:
        limiter = self._limiter
        async with limiter.admit(
            model=model.id,
            user_id=self._user_id,
            prompt_tokens=self.estimate(messages, tools),
            max_tokens=max_tokens,
            on_wait=self._notice,
        ) as permit:

            async def retrying(error: errors.KimiError, delay: float, attempt: int) -> None:
                if isinstance(error, errors.RateLimited):
                    await limiter.penalize(model.id, error.wait_seconds)
                if on_retry is not None:
                    await on_retry(error, delay, attempt)
                await permit.retry(delay, on_wait=self._notice)

            try:
                completion = await self._kimi.stream(
                    model=model,
                    messages=messages,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    tools=tools,
                    on_delta=on_delta,
                    on_retry=retrying,
                )
            except errors.RateLimited as exc:
                await limiter.penalize(model.id, exc.wait_seconds)
                raise
            finally:
                self.waited += permit.waited
            if completion.usage is not None:
                permit.reconcile(completion.usage.prompt_tokens, completion.usage.completion_tokens)
            return completion
