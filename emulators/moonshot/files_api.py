"""``/v1/files``: upload with real text extraction (``file-extract``) or kept bytes (``image``),
list, get, delete and content."""

from __future__ import annotations

import asyncio

from aiohttp import BodyPartReader, web

from emulators.moonshot import errors
from emulators.moonshot.extract import EncryptedDocument, ExtractionError, extract
from emulators.moonshot.filestore import FileStore
from emulators.moonshot.images import UnreadableImage, look

PURPOSES = ("file-extract", "image")

MB = 1024 * 1024
READ_CHUNK = 256 * 1024


class FilesApi:
    """Handlers over one :class:`FileStore`; extraction runs in a thread so streams keep flowing."""

    def __init__(self, store: FileStore) -> None:
        self.store = store

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/files", self.upload),
            web.get("/v1/files", self.list),
            web.get("/v1/files/{file_id}", self.get),
            web.delete("/v1/files/{file_id}", self.delete),
            web.get("/v1/files/{file_id}/content", self.content),
        ]

    async def upload(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            return errors.invalid_request("files must be uploaded as multipart/form-data")
        purpose: str | None = None
        filename = ""
        data: bytes | None = None
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "purpose":
                purpose = (await part.text()).strip()
            elif part.name == "file":
                filename = part.filename or "file"
                data = await self._read_limited(part)
                if data is None:
                    return self._too_large()
            else:
                await part.release()
        if data is None:
            return errors.invalid_request("the 'file' field is required")
        if purpose not in PURPOSES:
            allowed = " or ".join(repr(p) for p in PURPOSES)
            return errors.invalid_request(f"purpose must be {allowed}, got {purpose!r}")
        if not data:
            return errors.error_response(400, "invalid_request_error", "File size is zero")
        if self.store.full():
            return errors.invalid_request(
                f"exceeded the max file count, max file count is {self.store.max_files}"
            )
        if purpose == "image":
            return await self._keep_image(filename, data)
        try:
            extracted = await asyncio.to_thread(extract, filename, data)
        except EncryptedDocument as exc:
            record = self.store.add(filename, len(data), "", "application/pdf", "error", str(exc))
            return web.json_response(record.to_json())
        except ExtractionError as exc:
            return errors.server_error(f"Failed to extract file: {exc}")
        record = self.store.add(filename, len(data), extracted.text, extracted.file_type)
        return web.json_response(record.to_json())

    async def _keep_image(self, filename: str, data: bytes) -> web.Response:
        """An image is checked (it must decode) and kept as is, for ``ms://<id>`` parts."""
        try:
            seen = await asyncio.to_thread(look, data)
        except UnreadableImage as exc:
            return errors.invalid_request(f"the file is not a usable image: {exc}")
        record = self.store.add(
            filename, len(data), "", seen.format.lower(), purpose="image", data=data
        )
        return web.json_response(record.to_json())

    async def _read_limited(self, part: BodyPartReader) -> bytes | None:
        """The part's bytes, or None once it passes the size limit.

        Past the limit the rest is read and discarded (not kept in memory), so the client
        finishes sending and reliably receives the 400 instead of a broken pipe.
        """
        chunks: list[bytes] = []
        size = 0
        while chunk := await part.read_chunk(READ_CHUNK):
            size += len(chunk)
            if size <= self.store.max_file_bytes:
                chunks.append(chunk)
            elif chunks:
                chunks.clear()
        return b"".join(chunks) if size <= self.store.max_file_bytes else None

    def _too_large(self) -> web.Response:
        limit = self.store.max_file_bytes
        shown = f"{limit // MB}MB" if limit % MB == 0 else f"{limit} bytes"
        return errors.error_response(
            400, "invalid_request_error", f"File size is too large, max file size is {shown}"
        )

    async def list(self, request: web.Request) -> web.Response:
        """All files; ``after``/``limit``/``order`` are honoured so the SDK's auto-pager stops."""
        records = self.store.all()
        if request.query.get("order") == "desc":
            records.reverse()
        after = request.query.get("after")
        if after:
            ids = [r.id for r in records]
            records = records[ids.index(after) + 1 :] if after in ids else []
        limit = request.query.get("limit", "")
        if limit.isdigit():
            records = records[: int(limit)]
        return web.json_response({"object": "list", "data": [r.to_json() for r in records]})

    async def get(self, request: web.Request) -> web.Response:
        record = self.store.get(request.match_info["file_id"])
        if record is None:
            return _file_not_found(request)
        return web.json_response(record.to_json())

    async def delete(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if not self.store.delete(file_id):
            return _file_not_found(request)
        return web.json_response({"id": file_id, "object": "file", "deleted": True})

    async def content(self, request: web.Request) -> web.Response:
        record = self.store.get(request.match_info["file_id"])
        if record is None:
            return _file_not_found(request)
        if record.data is not None:
            return web.Response(body=record.data, content_type=f"image/{record.file_type}")
        if record.status != "ok":
            return errors.invalid_request(
                f"file {record.id} could not be extracted: {record.status_details}"
            )
        return web.json_response(record.content_json())


def _file_not_found(request: web.Request) -> web.Response:
    return errors.not_found(f"file {request.match_info['file_id']} not found")
