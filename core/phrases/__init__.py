"""The text catalog: every sentence a user can see, in English and Chinese, by key.

Each module holds one area's texts as ``{key: {"en": ..., "zh": ...}}``; ``CATALOG`` is all
of them (a key may appear only once). Pure data: :mod:`core.texts` formats and chooses the
language, and any module (``core.errors`` too) may read it without an import cycle.
"""

from __future__ import annotations

from core.phrases import (
    account,
    chat,
    commands,
    documents,
    errors,
    feedback,
    images,
    limits,
    memory,
    platforms,
    speech,
)

Phrases = dict[str, dict[str, str]]
LANGUAGES = ("en", "zh")


def _merge(*parts: Phrases) -> Phrases:
    merged: Phrases = {}
    for part in parts:
        clash = merged.keys() & part.keys()
        if clash:
            raise ValueError(f"text keys defined twice: {sorted(clash)}")
        merged.update(part)
    return merged


CATALOG: Phrases = _merge(
    account.TEXTS,
    chat.TEXTS,
    commands.TEXTS,
    documents.TEXTS,
    errors.TEXTS,
    feedback.TEXTS,
    images.TEXTS,
    limits.TEXTS,
    memory.TEXTS,
    platforms.TEXTS,
    speech.TEXTS,
)


def english(key: str) -> str:
    """The English text, unformatted (class attributes such as ``KimiError.user_message``)."""
    return CATALOG[key]["en"]
