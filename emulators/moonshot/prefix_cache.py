"""Moonshot's automatic context cache: a repeated prompt prefix is billed at the cache-hit price.

What is modelled, and from where:

- Kimi models cache automatically; ``cached_tokens`` counts the prompt tokens of the longest
  prefix that matches a *byte-identical* prefix of an earlier request: tools, messages in order,
  reasoning kept in the history; anything that differs (a timestamp in the system prompt, reordered
  JSON keys, a changed tool schema) ends the match there (Moonshot's forum, "Cached tokens drop
  when tool has interleaved thinking": "cached_tokens … depends on whether the current request's
  context exactly matches a prefix of a previous request"; "byte-for-byte identical").
- ``cached_tokens`` is reported at the top of ``usage`` and in ``prompt_tokens_details``
  (docs: "may be at the top level of usage or under prompt_tokens_details").
- Entries live ``ttl`` seconds after they were last written or hit, per account (API key) and
  model: 5 minutes by default (Moonshot's default TTL as the project's brief has it; measured: a hit
  after 300 s, a miss after 1,800 s).
- Matches count in whole chunks of :data:`CHUNK_TOKENS` tokens, and an exact re-send of a whole
  prompt is cached whole (measured on Kimi's API by pi-provider-kimi-code, ``docs/caching.md``:
  "Prefix matching aligns to 256-token chunks (confirmed at prompt sizes from 800 to 32 000
  tokens)"; "An exact-content re-send reads the entire prompt from cache"; system, tools and image
  references are part of the prefix; temperature, top_p and max_tokens are not; TTL "at least 5
  minutes, less than 30 minutes").
- Every model reports its cached tokens; they cost less only where the catalog names a cache-hit
  price (billing.py), as Moonshot's price list does for the Kimi models.

How: the prompt is serialized canonically (``model`` and ``tools``, then each message, JSON with
sorted keys) and hashed incrementally; the running hash at the end of the first message that
reaches each new multiple of 256 tokens is remembered, and the hash of the whole prompt. A later
request's cached tokens are all of its tokens when it is an exact re-send, else the chunks of the
longest remembered boundary it shares. Boundaries fall at message ends, so a prefix
that diverges inside a message counts up to the previous boundary: a slight under-count against
the real byte-level match, never an over-count. Memory is bounded: at most ``prompt/256 + 1``
17-byte keys per request, dropped when they expire, and at most ``max_entries`` per account.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulators.moonshot.filestore import FileStore
from emulators.moonshot.tokens import estimate_tokens, message_text
from emulators.moonshot.vision import content_image_tokens

CHUNK_TOKENS = 256
_CHUNK, _EXACT = b"c", b"e"  # the two kinds of key never match each other
DEFAULT_TTL = 300.0
MAX_ENTRIES = 200_000


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class PromptKeys:
    """A prompt's cache keys: the running hash at each new 256-token chunk (with the whole-chunk
    tokens there), and the hash of the whole prompt (with all its tokens)."""

    chunks: list[tuple[bytes, int]]
    exact: bytes
    tokens: int


def prompt_keys(
    model: str, tools: Any, messages: list[dict[str, Any]], files: FileStore | None = None
) -> PromptKeys:
    running = hashlib.blake2b(canonical({"model": model, "tools": tools or []}), digest_size=16)
    tokens = 0
    chunks = 0
    found: list[tuple[bytes, int]] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        running.update(canonical(message))
        tokens += max(1, estimate_tokens(message_text(message)))
        tokens += content_image_tokens(message.get("content"), files)
        if tokens // CHUNK_TOKENS > chunks:
            chunks = tokens // CHUNK_TOKENS
            found.append((_CHUNK + running.copy().digest(), chunks * CHUNK_TOKENS))
    return PromptKeys(found, _EXACT + running.digest(), tokens)


class PrefixCache:
    """Per-account prefix hashes with expiry; ``clock`` is injectable so tests are exact."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self._accounts: dict[str, OrderedDict[bytes, tuple[float, int]]] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._accounts.values())

    def clear(self) -> None:
        self._accounts.clear()

    def use(self, account: str, keys: PromptKeys) -> int:
        """Cached tokens for this prompt (all of them for an exact re-send, else the whole chunks
        of the longest prefix seen); then remember its keys (a hit renews them)."""
        now = self.clock()
        entries = self._accounts.setdefault(account, OrderedDict())
        self._expire(entries, now)
        cached = 0
        if keys.exact in entries:
            cached = keys.tokens
        else:
            for digest, tokens in reversed(keys.chunks):
                if digest in entries:
                    cached = tokens
                    break
        expires = now + self.ttl
        for digest, tokens in [*keys.chunks, (keys.exact, keys.tokens)]:
            entries[digest] = (expires, tokens)
            entries.move_to_end(digest)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
        return cached

    def _expire(self, entries: OrderedDict[bytes, tuple[float, int]], now: float) -> None:
        """Entries are kept in the order they were last touched, so expired ones lead."""
        while entries:
            digest, (expires, _) = next(iter(entries.items()))
            if expires > now:
                return
            del entries[digest]
