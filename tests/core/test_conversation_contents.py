"""The conversation lookup says what the conversation holds, so a plain chat's turn can skip the
documents, images and summary lookups; each answer must follow the rows, on both backends."""

from __future__ import annotations

from dataclasses import replace

from core.types import ConversationKey
from storage import Database
from storage.records import ConversationContents
from tests.images.samples import link_an_image, still


async def _read(db: Database, key: ConversationKey):  # type: ignore[no-untyped-def]
    return await db.conversations.get_or_create(key, is_group=False)


async def test_a_new_conversation_is_known_to_hold_nothing(db: Database) -> None:
    conversation = await _read(db, ConversationKey("telegram", "plain"))
    assert conversation.contents == ConversationContents(False, False, None)
    assert conversation.known_without_documents
    assert conversation.known_without_images
    assert conversation.known_without_summary


async def test_each_kind_of_content_is_seen_by_the_next_lookup(db: Database) -> None:
    key = ConversationKey("telegram", "busy")
    conversation = await _read(db, key)
    question = await db.messages.add(conversation.id, "user", "look at these", token_estimate=3)

    document = await db.documents.create(
        sha256="d" * 64,
        file_name="notes.txt",
        mime_type="text/plain",
        size_bytes=5,
        file_type="txt",
        content="notes",
        token_count=2,
        sections=[],
    )
    await db.documents.attach(
        conversation.id, document.id, name="notes.txt", added_by="1", added_by_name="Ann"
    )
    after_document = await _read(db, key)
    assert not after_document.known_without_documents
    assert after_document.known_without_images and after_document.known_without_summary

    await link_an_image(db, still("PNG"), conversation_id=conversation.id)
    after_image = await _read(db, key)
    assert not after_image.known_without_images
    assert after_image.known_without_summary

    assert await db.summaries.add(
        conversation.id,
        through_id=question,
        covered_messages=1,
        content="Ann shared notes and a picture.",
        token_estimate=8,
        model="moonshot-v1-8k",
    )
    latest = await db.summaries.latest(conversation.id)
    after_summary = await _read(db, key)
    assert latest is not None and after_summary.contents is not None
    assert after_summary.contents.summary_id == latest.id
    assert not after_summary.known_without_summary


async def test_a_record_read_elsewhere_is_never_known_empty(db: Database) -> None:
    """contents=None (a record built without the lookup): every caller must look things up."""
    conversation = replace(await _read(db, ConversationKey("slack", "T1:C1")), contents=None)
    assert not conversation.known_without_documents
    assert not conversation.known_without_images
    assert not conversation.known_without_summary
