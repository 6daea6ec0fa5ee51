"""Real text out of uploaded documents, as the files API's ``file-extract`` purpose does.

Dispatch is by magic bytes first (a renamed PDF is still a PDF) and by extension second. Archive
formats (docx/xlsx/pptx/epub) are checked against zip bombs before any library opens them.
"""

from __future__ import annotations

import io
import logging
import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from xml.etree import ElementTree

from emulators.moonshot.decoding import NotText, decode_text, html_to_text

MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 100
MAX_MEMBERS = 10_000

MIME = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "epub": "application/epub+zip",
    "html": "text/html",
    "csv": "text/csv",
    "json": "application/json",
    "md": "text/markdown",
    "text": "text/plain",
}
HTML_EXTENSIONS = {".html", ".htm", ".xhtml"}
ZIP_KINDS = {".docx": "docx", ".xlsx": "xlsx", ".pptx": "pptx", ".epub": "epub"}
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


class ExtractionError(Exception):
    """The file cannot be read: the upload answers 500 'Failed to extract file: ...'."""


class EncryptedDocument(Exception):
    """The file is stored but marked ``status: error`` (e.g. a PDF that needs a password)."""


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    file_type: str


def extract(filename: str, data: bytes) -> Extracted:
    """Text and MIME type of ``data``; raises ExtractionError or EncryptedDocument."""
    suffix = PurePosixPath(filename.lower()).suffix
    if data.startswith(b"%PDF-"):
        return Extracted(_pdf(data), MIME["pdf"])
    if data.startswith(b"PK\x03\x04"):
        return _zip_document(data, suffix)
    if data.startswith(OLE_MAGIC):
        raise ExtractionError("legacy Office formats (doc/xls/ppt) are not supported here")
    if data.startswith(IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        raise ExtractionError("image OCR is not supported by the emulator")
    if suffix == ".pdf" or suffix in ZIP_KINDS:
        raise ExtractionError(f"file content does not match its {suffix} extension")
    try:
        text = decode_text(data)
    except NotText as exc:
        raise ExtractionError(f"unsupported file type ({exc})") from None
    if suffix in HTML_EXTENSIONS:
        return Extracted(html_to_text(text), MIME["html"])
    kind = {".csv": "csv", ".json": "json", ".md": "md", ".markdown": "md"}.get(suffix, "text")
    return Extracted(text, MIME[kind])


def _pdf(data: bytes) -> str:
    """All pages' text; pypdf's font warnings are silenced (they flood the log on real PDFs)."""
    pypdf_logger = logging.getLogger("pypdf")
    level = pypdf_logger.level
    pypdf_logger.setLevel(logging.ERROR)
    try:
        return _pdf_text(data)
    finally:
        pypdf_logger.setLevel(level)


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError, PdfReadError) as exc:
                raise EncryptedDocument(f"encrypted pdf: {exc}") from None
            if not opened:
                raise EncryptedDocument("the pdf is encrypted with a password")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except EncryptedDocument:
        raise
    except Exception as exc:  # pypdf raises many types on broken files
        raise ExtractionError(f"invalid pdf: {exc}") from None
    return "\n\n".join(p for p in pages if p)


def _zip_document(data: bytes, suffix: str) -> Extracted:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ExtractionError(f"broken archive: {exc}") from None
    with archive:
        check_zip_bomb(archive, len(data))
        names = set(archive.namelist())
        if "word/document.xml" in names:
            kind = "docx"
        elif "xl/workbook.xml" in names:
            kind = "xlsx"
        elif "ppt/presentation.xml" in names:
            kind = "pptx"
        elif "META-INF/container.xml" in names:
            kind = "epub"
        else:
            kind = ZIP_KINDS.get(suffix, "")
        if kind == "epub":
            return Extracted(_epub(archive), MIME["epub"])
    readers = {"docx": _docx, "xlsx": _xlsx, "pptx": _pptx}
    if kind not in readers:
        raise ExtractionError("zip archives are not a supported document type")
    try:
        return Extracted(readers[kind](data), MIME[kind])
    except ExtractionError:
        raise
    except Exception as exc:  # the office libraries raise many types on broken files
        raise ExtractionError(f"invalid {kind}: {exc}") from None


def check_zip_bomb(archive: zipfile.ZipFile, compressed_size: int) -> None:
    """Refuse archives that expand past 200 MB, or more than 100x, or have too many members."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ExtractionError(f"archive has too many members ({len(infos)})")
    total = sum(info.file_size for info in infos)
    if total > MAX_UNCOMPRESSED:
        raise ExtractionError(f"archive expands to {total} bytes (limit {MAX_UNCOMPRESSED})")
    if total > MAX_RATIO * max(compressed_size, 1):
        raise ExtractionError(f"archive compression ratio above {MAX_RATIO} (zip bomb?)")


def _docx(data: bytes) -> str:
    from docx import Document
    from docx.table import Table

    document = Document(io.BytesIO(data))
    blocks: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks.append(_table_text([[cell.text for cell in row.cells] for row in item.rows]))
        elif item.text.strip():
            blocks.append(item.text)
    return "\n\n".join(blocks)


def _xlsx(data: bytes) -> str:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets = []
        for sheet in workbook.worksheets:
            rows = [
                ["" if value is None else str(value) for value in row]
                for row in sheet.iter_rows(values_only=True)
                if any(value is not None for value in row)
            ]
            sheets.append(f"## {sheet.title}\n{_table_text(rows)}")
    finally:
        workbook.close()
    return "\n\n".join(sheets)


def _pptx(data: bytes) -> str:
    from pptx import Presentation

    presentation = Presentation(io.BytesIO(data))
    slides = []
    for number, slide in enumerate(presentation.slides, start=1):
        texts = _shape_texts(slide.shapes)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                texts.append(f"Notes: {notes}")
        slides.append(f"Slide {number}:\n" + "\n".join(texts))
    return "\n\n".join(slides)


def _shape_texts(shapes: Any) -> list[str]:
    texts: list[str] = []
    for shape in shapes:
        if getattr(shape, "shape_type", None) == 6:  # MSO_SHAPE_TYPE.GROUP
            texts.extend(_shape_texts(shape.shapes))
        elif getattr(shape, "has_table", False):
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            texts.append(_table_text(rows))
        elif getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
            texts.append(shape.text_frame.text)
    return texts


def _table_text(rows: list[list[str]]) -> str:
    return "\n".join("| " + " | ".join(c.replace("\n", " ") for c in row) + " |" for row in rows)


def _epub(archive: zipfile.ZipFile) -> str:
    """Chapters in spine order (from the OPF), falling back to every XHTML file by name."""
    names = archive.namelist()
    chapters = _epub_spine(archive) or sorted(
        n for n in names if n.lower().endswith((".xhtml", ".html", ".htm"))
    )
    texts = []
    for name in chapters:
        if name in names:
            try:
                texts.append(html_to_text(decode_text(archive.read(name))))
            except NotText:
                continue
    return "\n\n".join(t for t in texts if t)


def _epub_spine(archive: zipfile.ZipFile) -> list[str]:
    try:
        container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
        rootfile = next(e for e in container.iter() if e.tag.endswith("rootfile"))
        opf_path = rootfile.attrib["full-path"]
        opf = ElementTree.fromstring(archive.read(opf_path))
    except (KeyError, StopIteration, ElementTree.ParseError):
        return []
    base = posixpath.dirname(opf_path)
    manifest = {
        e.attrib.get("id"): posixpath.normpath(posixpath.join(base, e.attrib.get("href", "")))
        for e in opf.iter()
        if e.tag.endswith("item")
    }
    return [
        manifest[e.attrib["idref"]]
        for e in opf.iter()
        if e.tag.endswith("itemref") and e.attrib.get("idref") in manifest
    ]
