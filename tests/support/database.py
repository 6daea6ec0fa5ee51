"""A clean database for each test (PostgreSQL's throwaway database is shared by a session)."""

from __future__ import annotations

from sqlalchemy import text

from storage import Database

TABLES = (
    "conversations, participants, messages, usage_records, processed_events, documents, "
    "document_sections, library_entries, workers, instance_secrets, images, conversation_images, "
    "transcriptions, feedback, answer_posts, conversation_summaries, "
    "admin_links, user_budgets, access_entries, admin_audit"
)


async def clean_database(db: Database) -> None:
    """Empty every table on PostgreSQL (each SQLite test has a file of its own)."""
    if db.backend == "postgresql":
        async with db.engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
