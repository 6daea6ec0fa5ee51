"""Split extracted text into sections for retrieval, on paragraph boundaries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.documents.analyzer import search_terms
from core.tokens import raw_estimate

SECTION_TOKENS = 800


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    content: str
    token_count: int
    search_terms: str


def split_sections(text: str, target_tokens: int = SECTION_TOKENS) -> list[Section]:
    """Sections of about ``target_tokens``; very long paragraphs are cut on line/sentence ends."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    pieces: list[str] = []
    for paragraph in paragraphs:
        pieces.extend(_cut(paragraph, target_tokens))
    sections: list[Section] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        cost = raw_estimate(piece)
        if current and size + cost > target_tokens:
            sections.append(_section(current, len(sections) + 1))
            current, size = [], 0
        current.append(piece)
        size += cost
    if current:
        sections.append(_section(current, len(sections) + 1))
    return sections


def _cut(paragraph: str, target_tokens: int) -> list[str]:
    if raw_estimate(paragraph) <= target_tokens:
        return [paragraph]
    parts = re.split(r"(?<=[\n。！？.!?])\s*", paragraph)
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for part in parts:
        cost = raw_estimate(part)
        while cost > target_tokens:  # one enormous "sentence": hard cut
            cut = max(1, len(part) * target_tokens // cost)
            chunks.append(part[:cut])
            part = part[cut:]
            cost = raw_estimate(part)
        if current and size + cost > target_tokens:
            chunks.append(" ".join(current))
            current, size = [], 0
        current.append(part)
        size += cost
    if current:
        chunks.append(" ".join(current))
    return chunks


def _section(pieces: list[str], number: int) -> Section:
    content = "\n\n".join(p.strip("\n") for p in pieces)
    first_line = content.strip().splitlines()[0].strip() if content.strip() else ""
    heading = first_line.lstrip("#").strip()[:80]
    title = f"section {number}" + (f" ({heading})" if heading else "")
    return Section(
        title=title,
        content=content,
        token_count=raw_estimate(content),
        search_terms=search_terms(content),
    )
