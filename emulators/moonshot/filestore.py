"""The account's stored files: metadata as the FileObject shows it, plus the extracted text
(``file-extract``) or the bytes themselves (``image``, for ``ms://<file_id>`` image parts)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class FileRecord:
    id: str
    filename: str
    bytes: int
    created_at: int
    status: str
    status_details: str
    content: str
    file_type: str
    purpose: str = "file-extract"
    data: bytes | None = None  # kept for purpose "image" only: chat reads the picture back

    def to_json(self) -> dict[str, Any]:
        """The FileObject exactly as the real API returns it."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "status_details": self.status_details,
        }

    def content_json(self) -> dict[str, Any]:
        """The body of ``GET /v1/files/{id}/content``."""
        return {
            "content": self.content,
            "file_type": self.file_type,
            "filename": self.filename,
            "title": "",
            "type": "file",
        }


class FileStore:
    """In-memory files, in upload order; the count limit is the account's (1,000 by default)."""

    def __init__(self, max_files: int = 1000, max_file_bytes: int = 100 * 1024 * 1024) -> None:
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self._files: dict[str, FileRecord] = {}
        self.uploads = 0  # files ever accepted, so tests can see a reused extraction

    def __len__(self) -> int:
        return len(self._files)

    def full(self) -> bool:
        return len(self._files) >= self.max_files

    def add(
        self,
        filename: str,
        size: int,
        content: str,
        file_type: str,
        status: str = "ok",
        status_details: str = "",
        purpose: str = "file-extract",
        data: bytes | None = None,
    ) -> FileRecord:
        record = FileRecord(
            id=_new_id(),
            filename=filename,
            bytes=size,
            created_at=int(time.time()),
            status=status,
            status_details=status_details,
            content=content,
            file_type=file_type,
            purpose=purpose,
            data=data,
        )
        self._files[record.id] = record
        self.uploads += 1
        return record

    def get(self, file_id: str) -> FileRecord | None:
        return self._files.get(file_id)

    def delete(self, file_id: str) -> bool:
        return self._files.pop(file_id, None) is not None

    def all(self) -> list[FileRecord]:
        return list(self._files.values())

    def clear(self) -> None:
        self._files.clear()


def _new_id() -> str:
    """Ids look like the real ones: 20 lowercase letters and digits."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(20))
