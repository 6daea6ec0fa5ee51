"""The engine over real third-party documents (the optional corpus layer, see ``corpus`` in
tests/conftest.py): skipped with one reason when the corpus folder is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.types import CollectingSink
from tests.documents.test_documents import attachment, check_file_reaches_the_context, message

CORPUS_CASES = [
    ("markitdown-test.docx", "314b0a30-5b04-470b-b9f7-eed2c2bec74a"),
    ("markitdown-test.xlsx", "6ff4173b-42a5-4784-9b19-f49caff4d93d"),
    ("markitdown-test.pptx", "2cdda5c8-e50e-4db4-b5f0-9722a649f455"),
    ("markitdown-test.pdf", "While there is contemporaneous exploration of multi-agent approaches"),
    ("markitdown-test_mskanji.csv", "佐藤太郎"),
    ("kimi-api-brief-zh.txt", "Kimi"),
]


@pytest.mark.parametrize(("file_name", "marker"), CORPUS_CASES)
async def test_real_files_reach_the_context(corpus: Path, services, moonshot, file_name, marker):
    data = (corpus / file_name).read_bytes()
    await check_file_reaches_the_context(services, moonshot, file_name, data, marker)


async def test_real_random_binary_is_refused_without_a_model_call(corpus: Path, services, moonshot):
    sink = CollectingSink()
    random_bin = (corpus / "markitdown-random.bin").read_bytes()
    await services.assistant.handle(
        message("", attachment("random.bin", random_bin, "application/octet-stream")), sink
    )
    assert "not a format Kimi can read" in sink.replies[-1]
    assert moonshot.requests == [], "no model call for files that were refused"
