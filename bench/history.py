"""Context-building time with 10 versus 100,000 stored messages in the conversation.

Both conversations hold messages of the same size, and the model's window fits about ten of
them, so both builds put the same amount of history into the context; the only difference is
how much older history is stored behind it. Target: ratio <= 1.5.

    python -m bench.history [--messages 100000] [--repeat 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import summary
from core.context import ContextBuilder
from core.tokens import TokenEstimator, raw_estimate
from storage import ConversationKey, Database

MESSAGE = ("The quick brown fox jumps over the lazy dog near the riverbank. " * 19).strip()
BUDGET = 3 * 1024  # a window minus max output that fits ~10 messages of ~300 tokens


async def fill(db: Database, chat: str, count: int) -> tuple[int, int]:
    conversation = await db.conversations.get_or_create(
        ConversationKey("bench", chat), is_group=False
    )
    tokens = raw_estimate(MESSAGE)
    batch: list[tuple[str, str, int]] = []
    for i in range(count - 1):
        batch.append(("user" if i % 2 == 0 else "assistant", MESSAGE, tokens))
        if len(batch) == 5000:
            await db.messages.add_many(conversation.id, batch)
            batch = []
    await db.messages.add_many(conversation.id, batch)
    current = await db.messages.add(conversation.id, "user", MESSAGE, token_estimate=tokens)
    return conversation.id, current


async def time_builds(
    builder: ContextBuilder, conversation_id: int, current: int, repeat: int
) -> tuple[list[float], int]:
    samples: list[float] = []
    used = 0
    for _ in range(repeat):
        started = time.perf_counter()
        built = await builder.build(
            conversation_id=conversation_id,
            current_message_id=current,
            system_prompt="You are Kimi.",
            budget=BUDGET,
            is_group=False,
        )
        samples.append(time.perf_counter() - started)
        used = built.history_messages
    return samples, used


async def main(messages: int, repeat: int, database_url: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'history.db'}"
        db = Database(url)
        await db.migrate()
        suffix = str(time.time_ns())
        small = await fill(db, f"small-{suffix}", 10)
        started = time.perf_counter()
        large = await fill(db, f"large-{suffix}", messages)
        print(
            f"stored {messages:,} messages in {time.perf_counter() - started:.1f} s ({db.backend})"
        )
        builder = ContextBuilder(db.messages, TokenEstimator())
        await time_builds(builder, *small, 20)  # warm-up
        await time_builds(builder, *large, 20)
        small_samples, small_used = await time_builds(builder, *small, repeat)
        large_samples, large_used = await time_builds(builder, *large, repeat)
        await db.close()
    ratio = statistics.median(large_samples) / statistics.median(small_samples)
    print(f"10 stored      : {summary(small_samples)} ({small_used} history messages in context)")
    print(
        f"{messages:,} stored : {summary(large_samples)} ({large_used} history messages in context)"
    )
    print(f"history ratio  : {ratio:.3f} (target <= 1.5)")
    return {"history_ratio": ratio}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.repeat, args.database_url))
