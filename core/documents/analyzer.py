"""Search terms for the full-text index: words for alphabetic scripts, bigrams for CJK.

Why our own: SQLite FTS5's unicode61 tokenizer and PostgreSQL's ``simple`` configuration do not
segment Chinese or Japanese, so a question would never match text inside a long CJK run.
Indexing overlapping character bigrams (as Lucene's CJK analyzer does) fixes that on both
databases with one analyzer, applied to sections when stored and to questions when searched.
"""

from __future__ import annotations

import re

from core.tokens import is_cjk

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]+|[^\\W\\d_{_CJK}]+|\\d+", re.UNICODE)
_ASCII_TOKEN = re.compile(r"[a-z]+|\d+")
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it of on or that the this to was were "
    "what when where which who why how with does did do can could would should about into "
    "than then there these those they you your we our i me my he she his her its".split()
)


def tokens(text: str) -> list[str]:
    """Lower-cased words (and numbers); CJK runs become overlapping bigrams."""
    lowered = text.lower()
    if lowered.isascii():
        return _ASCII_TOKEN.findall(lowered)
    out: list[str] = []
    for token in _TOKEN.findall(lowered):
        if not is_cjk(token[0]):
            out.append(token)
        elif len(token) == 1:
            out.append(token)
        else:
            out.extend(token[i : i + 2] for i in range(len(token) - 1))
    return out


def search_terms(text: str) -> str:
    """The string stored beside a section for the full-text index."""
    return " ".join(tokens(text))


def query_terms(question: str, limit: int = 40) -> list[str]:
    """Distinct terms of a question worth searching for (no stopwords, no 1-letter words)."""
    seen: dict[str, None] = {}
    for term in tokens(question):
        if term in _STOPWORDS or (len(term) < 2 and not is_cjk(term)):
            continue
        seen.setdefault(term, None)
    return list(seen)[:limit]
