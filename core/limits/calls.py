"""A chat model for one turn whose every Moonshot call goes through the limiter.

Each ``stream`` call (every round of the tool loop is one) is admitted with the prompt estimate
plus ``max_tokens``, holds its concurrency slot until the stream ends, counts each client-side
retry as another request, lowers the account limits when Moonshot answers 429 anyway, and
reconciles the TPM (and TPD) entry with Moonshot's ``usage``. The wait notice is shown once per
turn.

A TPM 429 names no wait (the client's delay is a 1 s placeholder): the model is paused for the
limiter's window estimate instead, and the retry is queued so that it goes out when that pause
ends (the client's own short delay included). A TPD 429 (``DailyLimitReached``, never retried)
marks the model's day as spent, so later calls are refused before they reach Moonshot.

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
from core.limits.errors import DailyLimitExceeded
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
        on_reasoning: DeltaCallback | None = None,
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
                shown = delay
                if isinstance(error, errors.RateLimited):
                    shown = max(delay, await self._slow_down(model.id, error, permit.tokens))
                if on_retry is not None:
                    await on_retry(error, shown, attempt)
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
                    on_reasoning=on_reasoning,
                )
            except errors.RateLimited as exc:
                await self._slow_down(model.id, exc, permit.tokens)
                raise
            except DailyLimitExceeded:
                raise  # the limiter's own refusal (of a retry): the day is already accounted for
            except errors.DailyLimitReached:
                await limiter.spend_day(model.id)
                raise
            finally:
                self.waited += permit.waited
            if completion.usage is not None:
                permit.reconcile(completion.usage.prompt_tokens, completion.usage.completion_tokens)
            return completion

    async def _slow_down(self, model: str, error: errors.RateLimited, tokens: int) -> float:
        """Penalize after a 429 (Moonshot's wait when it named one, else our TPM estimate);
        returns the seconds the model is paused, which the retry will wait."""
        wait = error.wait_seconds if error.wait_given else None
        penalty = await self._limiter.penalize(model, wait, tokens=tokens)
        return max(0.0, penalty.block_until - self._limiter.clock.now())
