"""Image storage beyond a turn: migration 0008 on SQLite and PostgreSQL (up and down), and
retention trimming images no conversation links any more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import Connection, insert, inspect, update

from core.retention import Retention, RetentionPolicy
from storage import Database
from storage.migrate import alembic_config, current_revision, upgrade
from storage.models import Conversation, Image
from tests.images.samples import link_an_image, sha, still


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))


async def _downgrade(db: Database, revision: str) -> None:
    def _run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with db.engine.begin() as connection:
        await connection.run_sync(_run)


async def _conversation_at_0008(db: Database) -> int:
    """A conversation row written directly: the repository also reads tables added later
    (the summaries of migration 0011), which a database at 0008 does not have yet."""
    statement = insert(Conversation).values(platform="telegram", chat="1")
    async with db.engine.begin() as connection:
        return (await connection.execute(statement.returning(Conversation.id))).scalar_one()


async def test_0008_adds_the_image_tables_and_goes_back(fresh_url: str) -> None:
    db = Database(fresh_url)
    try:
        await upgrade(db.engine, "0007")
        assert "images" not in await _tables(db)
        await upgrade(db.engine, "0008")
        assert await current_revision(db.engine) == "0008"
        assert {"images", "conversation_images"} <= await _tables(db)
        data = still("PNG")
        conversation_id = await link_an_image(
            db, data, conversation_id=await _conversation_at_0008(db)
        )
        again = await db.images.create(
            sha256=sha(data), format="png", width=64, height=32, data=data, token_count=99
        )
        assert again.token_count == 15, "a twin insert returns the stored row"
        stored = await db.images.data([again.id])
        assert stored == {again.id: data}, "the bytes come back exactly"
        [linked] = await db.images.linked(conversation_id)
        assert (linked.name, linked.width, linked.size_bytes) == ("a.png", 64, len(data))
        await _downgrade(db, "0007")
        assert not {"images", "conversation_images"} & await _tables(db)
    finally:
        await db.close()


async def test_retention_trims_only_images_nobody_links(db: Database) -> None:
    kept, gone = still("PNG", colour="red"), still("PNG", colour="blue")
    await link_an_image(db, kept, chat="kept")
    gone_conversation = await link_an_image(db, gone, chat="gone")
    assert await db.images.forget(gone_conversation, None) == 1
    async with db.engine.begin() as connection:
        await connection.execute(
            update(Image).values(created_at=datetime.now(UTC) - timedelta(days=31))
        )
    retention = Retention(db, RetentionPolicy(), every=0)
    pruned = await retention.run_once()
    assert pruned is not None and pruned.images == 1
    assert await db.images.find_by_hash(sha(gone)) is None
    assert await db.images.find_by_hash(sha(kept)) is not None
