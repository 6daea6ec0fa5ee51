"""Small documents of every format Kimi's file-extract reads, made at test time.

Each sample carries a marker: text written into the file that extraction must give back. Office
files come from python-docx, openpyxl and python-pptx; the PDF from a tiny writer below (one
Helvetica text object per page, which pypdf reads back); the EPUB is a zip written by hand; the
encrypted PDF is that PDF passed through pypdf's ``PdfWriter.encrypt``.
"""

from __future__ import annotations

import functools
import io
import json
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    mime: str
    data: bytes
    marker: str  # text in the file that extraction must return verbatim (on one line)


# -- PDF ------------------------------------------------------------------------------------------


def _pdf_string(line: str) -> str:
    escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped})"


def pdf(*pages: str) -> bytes:
    """A PDF with one page per argument; each line of a page is one line of Helvetica text."""
    objects: list[bytes] = [b"", b""]  # 1: catalog, 2: page tree (filled in below)
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    font = len(objects)
    kids = []
    for page in pages:
        ops = ["BT", "/F1 12 Tf", "16 TL", "72 720 Td"]
        ops += [f"{_pdf_string(line)} Tj T*" for line in page.splitlines()]
        ops.append("ET")
        stream = "\n".join(ops).encode("cp1252")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        contents = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (font, contents)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def encrypted_pdf(password: str = "owl-secret") -> bytes:
    """A PDF that needs a user password to open (RC4, which pypdf writes without extra packages)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(pdf("Top secret: the owls meet at dawn."))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# -- Office ---------------------------------------------------------------------------------------


def docx(marker: str) -> bytes:
    from docx import Document

    document = Document()
    document.add_heading("Quarterly owl census", level=1)
    document.add_paragraph(marker)
    table = document.add_table(rows=2, cols=2)
    for row, (species, count) in enumerate([("Species", "Count"), ("Barn owl", "17")]):
        table.cell(row, 0).text, table.cell(row, 1).text = species, count
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def xlsx(marker: str) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    first = workbook.active
    first.title = "Census"
    first.append(["Species", "Count", "Note"])
    first.append(["Barn owl", 17, marker])
    second = workbook.create_sheet("Sightings")
    second.append(["Day", "Place"])
    second.append(["Monday", "the old mill"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def pptx(marker: str) -> bytes:
    from pptx import Presentation

    presentation = Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])  # title and content
    slide.shapes.title.text = "Owl census"
    slide.placeholders[1].text = marker
    slide.notes_slide.notes_text_frame.text = "Speaker notes: count again in spring."
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


# -- EPUB -----------------------------------------------------------------------------------------

_CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
"""

_OPF = """<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="id">urn:uuid:00000000-0000-4000-8000-000000000001</dc:identifier>
    <dc:title>Owls</dc:title><dc:language>en</dc:language>
  </metadata>
  <manifest>
    <item id="c1" href="text/chapter1.xhtml" media-type="application/xhtml+xml"/>
    <item id="c2" href="text/chapter2.xhtml" media-type="application/xhtml+xml"/>
  </manifest>
  <spine><itemref idref="c1"/><itemref idref="c2"/></spine>
</package>
"""

_CHAPTER = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title>
<style>p {{ color: grey; }}</style></head>
<body><h1>{title}</h1><p>{body}</p></body></html>
"""


def epub(marker: str) -> bytes:
    """An EPUB 3 with two chapters; the marker is in chapter 2, after "Chapter 1" in spine order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", _CONTAINER)
        archive.writestr("OEBPS/content.opf", _OPF)
        archive.writestr(
            "OEBPS/text/chapter1.xhtml",
            _CHAPTER.format(title="Chapter 1", body="The owls gather at the old mill."),
        )
        archive.writestr(
            "OEBPS/text/chapter2.xhtml", _CHAPTER.format(title="Chapter 2", body=marker)
        )
    return buffer.getvalue()


# -- text formats ---------------------------------------------------------------------------------


def html(marker: str) -> bytes:
    return (
        "<!doctype html><html><head><title>Owl report</title>"
        "<style>body { font-family: serif; }</style>"
        "<script>document.write('not shown');</script></head>"
        f"<body><h1>Owl report</h1><p>{marker}</p></body></html>"
    ).encode()


def random_binary(size: int = 4096) -> bytes:
    """Bytes that are no document at all (no magic number, NUL bytes, not text in any codec)."""
    return b"\x00\xff\x13\x37" + random.Random(20240613).randbytes(size)


# -- the table -------------------------------------------------------------------------------------

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX_MIME = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

_BUILDERS: dict[str, tuple[str, str, Callable[[str], bytes]]] = {
    # name: (MIME type, marker, builder of the file's bytes from the marker)
    "sample.pdf": (
        "application/pdf",
        "Owls were counted in 14 parishes (census ref. PDF-5a1c).",
        lambda marker: pdf(f"Owl census 2024\n{marker}", "Page two: barn owls lead."),
    ),
    "sample.docx": (DOCX_MIME, "Census ref. DOCX-8e21-47b0: barn owls lead", docx),
    "sample.xlsx": (XLSX_MIME, "XLSX-c3f9-4d12 counted at dusk", xlsx),
    "sample.pptx": (PPTX_MIME, "PPTX-71aa-4be3: two owls per barn", pptx),
    "sample.epub": ("application/epub+zip", "EPUB-0d4e-45f8 the owls flew home", epub),
    "sample.html": ("text/html", "HTML-9b37-4c60 barn owls nest in towers", html),
    "sample.csv": (
        "text/csv",
        "佐藤太郎",
        lambda marker: (
            f"名前,年齢,メモ\n{marker},30,フクロウを数えました\n鈴木花子,25,ひまわりの観察\n"
        ).encode("cp932"),
    ),
    "sample.txt": (
        "text/plain",
        "月之暗面",
        lambda marker: (
            f"Kimi 是{marker}（Moonshot AI）推出的智能助手，支持长上下文和文件阅读。\n"
        ).encode(),
    ),
    "sample.md": (
        "text/markdown",
        "- step two: count the **barn owls** (MD-2f6b)",
        lambda marker: f"# Plan\n\n- step one: visit the mill\n{marker}\n".encode(),
    ),
    "sample.json": (
        "application/json",
        "JSON-64d0-4a9e",
        lambda marker: json.dumps(
            {"survey": "owls", "ref": marker, "counts": {"barn": 17, "tawny": 4}},
            ensure_ascii=False,
            indent=2,
        ).encode(),
    ),
}

SAMPLE_NAMES = tuple(_BUILDERS)


@functools.cache
def sample(name: str) -> Sample:
    """The sample ``name`` (one of ``SAMPLE_NAMES``), built once per test session."""
    mime, marker, build = _BUILDERS[name]
    return Sample(name=name, mime=mime, data=build(marker), marker=marker)
