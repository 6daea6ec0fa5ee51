"""What an attachment is to the core: an image (Kimi's vision models look at it), audio
(speech-to-text turns it into the user's words) or a document (Moonshot's file-extract reads it).

The platform's own word wins (a Telegram photo, a voice note); otherwise the MIME type, then the
file name. Anything else is a document, and the document path says clearly what it cannot read.
"""

from __future__ import annotations

from pathlib import PurePath

from core.types import Attachment

IMAGE = "image"
AUDIO = "audio"
DOCUMENT = "document"

# Moonshot's vision guide lists png, jpeg, webp and gif as image formats.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
AUDIO_EXTENSIONS = frozenset(
    {".ogg", ".oga", ".opus", ".mp3", ".m4a", ".wav", ".webm", ".flac", ".aac", ".mpga"}
)


def kind_of(attachment: Attachment) -> str:
    if attachment.kind in (IMAGE, AUDIO, DOCUMENT):
        return attachment.kind
    mime = (attachment.mime_type or "").split(";")[0].strip().lower()
    if mime in IMAGE_TYPES:
        return IMAGE
    if mime.startswith("audio/"):
        return AUDIO
    suffix = PurePath(attachment.name or "").suffix.lower()
    if mime in ("", "application/octet-stream"):
        if suffix in IMAGE_EXTENSIONS:
            return IMAGE
        if suffix in AUDIO_EXTENSIONS:
            return AUDIO
    return DOCUMENT
