"""Document ingestion and retrieval times (ours; Moonshot's extraction time excluded).

- a ~5 MB PDF and a 300-page PDF, generated here, extracted by the emulator's real pypdf
  extraction; we time ``DocumentLibrary.ingest`` minus the time spent inside the extractor
  (upload, extraction, download), i.e. hashing, sectioning, storing and indexing;
- retrieval time per question over 1,000 stored sections.

    python -m bench.documents
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import EMULATOR_KEY, moonshot_subprocess
from core.config import load_settings
from core.documents.library import DocumentLibrary
from core.service import start_services
from core.types import Attachment, Author
from storage import ConversationKey

WORDS = (
    "model window token answer stream memory limit budget owl river stone maple cloud amber "
    "delta orbit willow harbor signal market policy engine garden winter summer copper glass"
).split()


def make_pdf(pages: int, lines_per_page: int, seed: int) -> bytes:
    """A real multi-page PDF with text in Helvetica (enough for pypdf's text extraction)."""
    rng = random.Random(seed)
    objects: list[bytes] = []
    page_ids = []
    font_id = 3
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"")  # pages tree, filled below
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for page in range(pages):
        lines = []
        for line in range(lines_per_page):
            text = " ".join(rng.choice(WORDS) for _ in range(12)) + f" p{page} l{line}"
            lines.append(f"BT /F1 9 Tf 40 {800 - line * 11} Td ({text}) Tj ET")
        stream = "\n".join(lines).encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (content_id, font_id)
        )
        page_ids.append(len(objects))
    kids = b" ".join(b"%d 0 R" % i for i in page_ids)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def attachment(name: str, data: bytes) -> Attachment:
    async def fetch() -> bytes:
        return data

    return Attachment(name=name, mime_type="application/pdf", size=len(data), fetch=fetch)


class TimedExtractor:
    """Wraps the real extractor to subtract Moonshot's part from the ingestion time."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.spent = 0.0

    async def extract(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return await self.inner.extract(*args, **kwargs)
        finally:
            self.spent += time.perf_counter() - started


async def main() -> dict[str, float]:
    results: dict[str, float] = {}
    async with moonshot_subprocess("--no-limits") as url:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                moonshot_api_key=EMULATOR_KEY,
                moonshot_base_url=url,
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'docs.db'}",
                _env_file=None,
            )
            services = await start_services(settings)
            library: DocumentLibrary = services.assistant.library  # type: ignore[assignment]
            timed = TimedExtractor(library._extractor)
            library._extractor = timed  # type: ignore[assignment]
            author = Author("bench:1", "Bench")
            for label, pdf in (
                ("300-page PDF", make_pdf(300, 45, seed=1)),
                ("5 MB PDF", make_pdf(600, 70, seed=2)),
                ("1,000 sections", make_pdf(500, 70, seed=3)),
            ):
                conversation = await services.db.conversations.get_or_create(
                    ConversationKey("bench", label), is_group=False
                )
                timed.spent = 0.0
                started = time.perf_counter()
                result = await library.ingest(
                    conversation.id, attachment(f"{label}.pdf", pdf), author
                )
                total = time.perf_counter() - started
                ours = total - timed.spent
                sections = await services.db.documents.section_count(conversation.id)
                print(
                    f"{label:13}: {len(pdf) / 1e6:.1f} MB, {result.token_count:,} tokens; "
                    f"ours {ours * 1000:.0f} ms (extraction {timed.spent * 1000:.0f} ms excluded); "
                    f"{sections} sections in library"
                )
                results[f"ingest_{label}"] = ours
            # the last conversation holds the 1,000-section document
            count = await services.db.documents.section_count(conversation.id)
            documents = await library.documents(conversation.id)
            rng = random.Random(3)
            samples = []
            for _ in range(50):
                question = " ".join(rng.choice(WORDS) for _ in range(6)) + "?"
                started = time.perf_counter()
                await library.retrieve(conversation.id, question, 60_000, documents)
                samples.append(time.perf_counter() - started)
            retrieval = statistics.median(samples)
            print(
                f"retrieval    : median {retrieval * 1000:.1f} ms per question over {count:,} sections"
            )
            results["retrieval_s"] = retrieval
            await services.close()
    return results


if __name__ == "__main__":
    asyncio.run(main())
