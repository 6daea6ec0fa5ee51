"""Everything the emulator remembers between requests, in one place that every handler shares."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.catalog import Catalog
from emulators.moonshot.billing import Balance
from emulators.moonshot.daily import DailyTokens
from emulators.moonshot.filestore import FileStore
from emulators.moonshot.limits import RateLimiter
from emulators.moonshot.partial import Continuations
from emulators.moonshot.prefix_cache import PrefixCache
from emulators.moonshot.scripts import SPEECH_FAULTS, Fault, ScriptedReply, ScriptedTranscript

AUDIO_MAX_BYTES = 25 * 1024 * 1024  # OpenAI's transcription upload limit


@dataclass(slots=True)
class EmulatorState:
    """Configuration plus the mutable record of what clients did and what tests scripted."""

    api_key: str
    accept_any_key: bool
    catalog: Catalog
    enforce_limits: bool
    token_delay: float
    files: FileStore
    requests: list[dict[str, Any]] = field(default_factory=list)
    rate_limited_count: int = 0
    replies: deque[ScriptedReply] = field(default_factory=deque)
    faults: list[Fault] = field(default_factory=list)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    searches: dict[str, int] = field(default_factory=dict)
    search_count: int = 0
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    demo: bool = False  # answers that say they are not Kimi's (kimi-bot run without a key)
    keep_requests: int | None = None  # a long-running server keeps only the newest ones
    served_models: list[str] | None = None  # None: every catalog model is served
    continuations: Continuations = field(default_factory=Continuations)
    balance: Balance = field(default_factory=Balance)
    balance_set: bool = False  # a test set the balance: an empty one refuses even without limits
    transcripts: deque[ScriptedTranscript] = field(default_factory=deque)
    transcriptions: list[dict[str, Any]] = field(default_factory=list)  # model, filename, size…
    max_audio_bytes: int = AUDIO_MAX_BYTES
    prefix_cache: PrefixCache = field(default_factory=PrefixCache)  # Moonshot's automatic cache
    daily: DailyTokens = field(init=False)
    initial_served_models: list[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.daily = DailyTokens(self.catalog.day_timezone)
        self.serve(self.served_models)
        self.initial_served_models = self.served_models

    @property
    def served_catalog(self) -> Catalog:
        """The models the account 'has': what ``/v1/models`` lists and chat accepts."""
        if self.served_models is None:
            return self.catalog
        return self.catalog.only(self.served_models)

    def serve(self, model_ids: Iterable[str] | None) -> None:
        """Serve only ``model_ids`` (catalog ids), or every catalog model again with None."""
        if model_ids is None:
            self.served_models = None
            return
        ids = list(model_ids)
        unknown = [m for m in ids if m not in self.catalog]
        if unknown:
            raise ValueError(f"not in the catalog: {', '.join(unknown)}")
        self.served_models = ids

    @property
    def quota_enforced(self) -> bool:
        """Whether an empty balance refuses requests: with limits on (not in demo mode, which
        may run for days), or once a test set the balance."""
        return self.balance_set or (self.enforce_limits and not self.demo)

    def set_balance(self, *, cash: float | None = None, voucher: float | None = None) -> None:
        if cash is not None:
            self.balance.cash = float(cash)
        if voucher is not None:
            self.balance.voucher = float(voucher)
        self.balance_set = True

    def record_request(self, body: dict[str, Any]) -> None:
        self.requests.append(body)
        if self.keep_requests is not None and len(self.requests) > self.keep_requests:
            del self.requests[: len(self.requests) - self.keep_requests]

    def key_ok(self, key: str) -> bool:
        """Whether a Bearer key is accepted (any non-empty key in ``accept_any_key`` mode)."""
        return bool(key) and (self.accept_any_key or key == self.api_key)

    def take_fault(self, speech: bool = False) -> Fault | None:
        """The oldest pending fault of the caller's family (chat, or transcription with
        ``speech``), counted down; spent faults leave the queue."""
        for index, fault in enumerate(self.faults):
            if (fault.kind in SPEECH_FAULTS) != speech:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.pop(index)
            return fault
        return None

    def take_reply(self) -> ScriptedReply | None:
        return self.replies.popleft() if self.replies else None

    def take_transcript(self) -> ScriptedTranscript | None:
        return self.transcripts.popleft() if self.transcripts else None

    def reset(self) -> None:
        """Back to a fresh emulator: configuration kept (streams in progress keep their slots);
        requests, scripts, files, searches, counters, windows, continuations, the day's tokens,
        the balance, the prefix cache and the served models as at start."""
        self.requests.clear()
        self.rate_limited_count = 0
        self.replies.clear()
        self.faults.clear()
        self.limiter.reset()
        self.searches.clear()
        self.search_count = 0
        self.files.clear()
        self.continuations.clear()
        self.daily.reset()
        self.balance = Balance()
        self.balance_set = False
        self.served_models = self.initial_served_models
        self.transcripts.clear()
        self.transcriptions.clear()
        self.prefix_cache.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "requests": len(self.requests),
            "rate_limited": self.rate_limited_count,
            "files": len(self.files),
            "faults_pending": [f.to_json() for f in self.faults],
            "replies_pending": len(self.replies),
            "in_flight": self.limiter.in_flight(),
            "balance": self.balance.to_json(),
            "served_models": self.served_models,
            "continuable": len(self.continuations),
            "transcriptions": len(self.transcriptions),
            "transcripts_pending": len(self.transcripts),
        }
