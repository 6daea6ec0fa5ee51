"""Search terms for the full-text index: words for alphabetic scripts, bigrams for CJK.

Why our own: SQLite FTS5's unicode61 tokenizer and PostgreSQL's ``simple`` configuration do not
segment Chinese or Japanese, so a question would never match text inside a long CJK run.
Indexing overlapping character bigrams (as Lucene's CJK analyzer does) fixes that on both
databases with one analyzer, applied to sections when stored and to questions when searched.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it of on or that the this to was were "
    "what when where which who why how with does did do can could would should about into "
    "than then there these those they you your we our i me my he she his her its".split()
)


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x3040 <= code <= 0x30FF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
    )


def tokens(text: str) -> list[str]:
    """Lower-cased words (and numbers); CJK runs become overlapping bigrams."""
    out: list[str] = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        if not any(_is_cjk(ch) for ch in word):
            out.append(word)
            continue
        run = ""
        for ch in word + " ":
            if _is_cjk(ch):
                run += ch
                continue
            if run:
                out.extend(
                    [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
                )
                run = ""
            if ch != " ":
                out.append(ch)
    return out


def search_terms(text: str) -> str:
    """The string stored beside a section for the full-text index."""
    return " ".join(tokens(text))


def query_terms(question: str, limit: int = 40) -> list[str]:
    """Distinct terms of a question worth searching for (no stopwords, no 1-letter words)."""
    seen: dict[str, None] = {}
    for term in tokens(question):
        if term in _STOPWORDS or (len(term) < 2 and not _is_cjk(term)):
            continue
        seen.setdefault(term, None)
    return list(seen)[:limit]
