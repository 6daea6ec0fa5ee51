"""What Moonshot's file-extract accepts, and the limits we check before uploading anything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from core import texts

MAX_FILE_BYTES = 100 * 1024 * 1024

# Extensions Moonshot documents for file-extract (documents, text and code; images go to OCR).
DOCUMENT_EXTENSIONS = {
    ".pdf", ".txt", ".csv", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".md",
    ".markdown", ".epub", ".html", ".htm", ".json", ".log", ".xml", ".yaml", ".yml", ".tsv",
}  # fmt: skip
CODE_EXTENSIONS = {
    ".py", ".js", ".ts", ".java", ".c", ".cpp", ".h", ".hpp", ".go", ".rs", ".rb", ".php",
    ".cs", ".swift", ".kt", ".sh", ".sql", ".css", ".scala", ".lua", ".r", ".m", ".ini",
    ".toml", ".cfg", ".conf",
}  # fmt: skip
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
SUPPORTED = DOCUMENT_EXTENSIONS | CODE_EXTENSIONS | IMAGE_EXTENSIONS

_MIME_EXTENSIONS = {
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "text/markdown": ".md",
    "text/html": ".html",
    "application/json": ".json",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/epub+zip": ".epub",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
}


class DocumentRejected(Exception):
    """A file we will not upload: a catalog text (``key``, ``values``) for the chat.

    ``message(lang)`` is it in the user's language; ``reason`` and ``str()`` are the English.
    """

    def __init__(self, key: str, **values: object) -> None:
        self.key = key
        self.values = values
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return self.message("en")

    def message(self, lang: str) -> str:
        return texts.text(self.key, lang, **self.values)


@dataclass(frozen=True, slots=True)
class CheckedFile:
    name: str
    extension: str
    mime_type: str


def check_file(name: str, mime_type: str, size: int) -> CheckedFile:
    """Refuse empty, oversized and unsupported files before any download or upload."""
    display = name or "file"
    if size == 0:
        raise DocumentRejected("doc_empty", name=display)
    if size > MAX_FILE_BYTES:
        raise DocumentRejected(
            "doc_too_big", name=display, size=size / 1024 / 1024, limit=MAX_FILE_BYTES >> 20
        )
    extension = PurePath(name).suffix.lower() if name else ""
    if not extension or extension not in SUPPORTED:
        extension = _MIME_EXTENSIONS.get((mime_type or "").split(";")[0].strip().lower(), "")
    if extension not in SUPPORTED:
        raise DocumentRejected("doc_format", name=display)
    if not name or PurePath(name).suffix.lower() != extension:
        name = f"{PurePath(name or 'file').stem}{extension}"
    return CheckedFile(name=name, extension=extension, mime_type=mime_type or "")
