"""One summary call: Kimi asked to condense a transcript, admitted by the limiter and written to
the usage ledger like any turn's call (billed to the user whose turn set it off).

Shared by the compacting memory and by ``/summarize`` for histories longer than one window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core import errors, metrics
from core.catalog import Catalog, ModelSpec
from core.chat_model import ChatModel
from core.kimi import Completion, PartialAnswer
from core.ledger import usage_entry
from core.limits import LimitedKimi, Limiter
from core.memory import prompt
from core.memory.policy import MemoryPolicy, summary_model
from core.output_budget import OutputBudget
from core.tokens import TokenEstimator
from storage import ConversationRecord, Database

log = logging.getLogger(__name__)

# Summaries should say what was said, not vary between runs.
SUMMARY_TEMPERATURE = 0.2
# Room a compaction step needs beyond the part it summarizes: instructions and framing.
_FRAMING_TOKENS = 1_000


@dataclass(frozen=True, slots=True)
class SummaryText:
    text: str
    prompt_tokens: int
    completion_tokens: int


class Summarizer:
    def __init__(
        self,
        *,
        db: Database,
        kimi: ChatModel,
        catalog: Catalog,
        estimator: TokenEstimator,
        policy: MemoryPolicy,
        limiter: Limiter | None = None,
    ) -> None:
        self._db = db
        self._kimi = kimi
        self._catalog = catalog
        self._estimator = estimator
        self._policy = policy
        self._limiter = limiter

    @property
    def model(self) -> ModelSpec:
        """The model that writes summaries (SUMMARY_MODEL, or the cheapest that fits a step)."""
        policy = self._policy
        step = max(policy.max_tokens - policy.keep_tokens, 0)
        needs = step + 2 * policy.summary_tokens + _FRAMING_TOKENS
        return summary_model(self._catalog, policy.model, needs_window=needs)

    def model_window(self) -> int:
        """The summary model's context window in tokens."""
        return self.model.context_window

    def input_budget(self, max_tokens: int | None = None) -> int:
        """Tokens of transcript one call can take: the window less the answer and framing."""
        answer = max_tokens or self._policy.summary_tokens
        return max(self.model_window() - answer - _FRAMING_TOKENS, 1_000)

    async def summarize(
        self,
        transcript: str,
        *,
        conversation: ConversationRecord,
        user_id: str,
        platform: str,
        max_tokens: int | None = None,
        instructions: str | None = None,
    ) -> SummaryText:
        """The model's summary of ``transcript``; raises a ``KimiError`` when there is none."""
        model = self.model
        answer_tokens = max_tokens or self._policy.summary_tokens
        messages = [
            {"role": "system", "content": instructions or prompt.instructions(answer_tokens)},
            {"role": "user", "content": transcript},
        ]
        estimate = self._estimator.messages(messages)
        budget = min(answer_tokens, OutputBudget(model, None).for_prompt(estimate))
        chat: ChatModel = self._kimi
        if self._limiter is not None:
            chat = LimitedKimi(
                self._kimi, self._limiter, user_id=user_id, estimator=self._estimator
            )
        try:
            completion = await chat.stream(
                model=model, messages=messages, max_tokens=budget, temperature=SUMMARY_TEMPERATURE
            )
        except PartialAnswer as broken:  # tokens were spent: bill them, then fail
            await self._bill(broken.completion, model, conversation, user_id, platform, estimate)
            raise
        await self._bill(completion, model, conversation, user_id, platform, estimate)
        text = completion.text.strip()
        if not text:
            raise errors.ServerError("Kimi returned an empty summary")
        usage = completion.usage
        return SummaryText(
            text,
            usage.prompt_tokens if usage else estimate,
            usage.completion_tokens if usage else self._estimator.text(text),
        )

    async def _bill(
        self,
        completion: Completion,
        model: ModelSpec,
        conversation: ConversationRecord,
        user_id: str,
        platform: str,
        estimate: int,
    ) -> None:
        entry = usage_entry(
            completion,
            model,
            conversation,
            (user_id, platform),
            None,
            estimate,
            self._estimator,
            catalog=self._catalog,
        )
        metrics.record_usage([entry])
        try:
            await self._db.usage.record(entry)
        except Exception:  # the summary itself is still good; the operator must hear of it
            log.exception("could not record the usage of a summary call (%s)", model.id)
