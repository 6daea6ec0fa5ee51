"""Context building against real storage (SQLite and PostgreSQL through the ``db`` fixture)."""

from __future__ import annotations

from typing import Any

import pytest

from core.context import GROUP_NOTE, BuiltContext, ContextBuilder, MessageOverBudget
from core.tokens import MESSAGE_OVERHEAD, TokenEstimator
from storage import COMPLETE, FAILED, IN_PROGRESS, INCOMPLETE, ConversationKey, Database
from storage.messages import MessageRepository

SYSTEM = "sys"  # 1 token + overhead
SYSTEM_COST = 1 + MESSAGE_OVERHEAD
BODY = "w" * 396  # 99 tokens
BODY_COST = 99 + MESSAGE_OVERHEAD


async def new_conversation(db: Database, chat: str = "1", *, is_group: bool = False) -> int:
    record = await db.conversations.get_or_create(
        ConversationKey(platform="telegram", chat=chat), is_group=is_group
    )
    return record.id


async def build(
    db: Database | MessageRepository,
    conversation_id: int,
    current: int,
    *,
    budget: int = 100_000,
    is_group: bool = False,
    page_size: int = 32,
    extra_system: list[str] | None = None,
    system: str = SYSTEM,
) -> BuiltContext:
    repository = db.messages if isinstance(db, Database) else db
    builder = ContextBuilder(repository, TokenEstimator(), page_size=page_size)
    return await builder.build(
        conversation_id=conversation_id,
        current_message_id=current,
        system_prompt=system,
        budget=budget,
        is_group=is_group,
        extra_system=extra_system,
    )


def contents(built: BuiltContext) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in built.messages]


async def add_turns(db: Database, conversation_id: int, count: int, body: str = "") -> list[int]:
    """``count`` alternating user/assistant messages; each answer replies to the message before."""
    ids: list[int] = []
    for i in range(count):
        if i % 2 == 0:
            ids.append(await db.messages.add(conversation_id, "user", f"u{i} {body}".strip()))
        else:
            ids.append(
                await db.messages.add(
                    conversation_id, "assistant", f"a{i} {body}".strip(), reply_to_id=ids[-1]
                )
            )
    return ids


async def test_system_prompt_first_then_history_oldest_first_and_current_last(
    db: Database,
) -> None:
    conversation = await new_conversation(db)
    u1 = await db.messages.add(conversation, "user", "What is Kimi?")
    await db.messages.add(conversation, "assistant", "A model by Moonshot.", reply_to_id=u1)
    u2 = await db.messages.add(conversation, "user", "Who made it?")
    await db.messages.add(conversation, "assistant", "Moonshot AI.", reply_to_id=u2)
    current = await db.messages.add(conversation, "user", "Thanks!")
    built = await build(db, conversation, current)
    assert contents(built) == [
        ("system", SYSTEM),
        ("user", "What is Kimi?"),
        ("assistant", "A model by Moonshot."),
        ("user", "Who made it?"),
        ("assistant", "Moonshot AI."),
        ("user", "Thanks!"),
    ]
    assert built.history_messages == 5
    assert built.estimate == TokenEstimator().messages(built.messages)
    assert built.raw_estimate == TokenEstimator().raw_messages(built.messages)


async def test_first_message_of_a_conversation(db: Database) -> None:
    conversation = await new_conversation(db)
    current = await db.messages.add(conversation, "user", "hello")
    built = await build(db, conversation, current)
    assert contents(built) == [("system", SYSTEM), ("user", "hello")]
    assert built.history_messages == 1


async def test_extra_system_messages_follow_the_prompt(db: Database) -> None:
    conversation = await new_conversation(db)
    current = await db.messages.add(conversation, "user", "summarise the file")
    built = await build(db, conversation, current, extra_system=["doc one", "", "doc two"])
    assert contents(built) == [
        ("system", SYSTEM),
        ("system", "doc one"),
        ("system", "doc two"),
        ("user", "summarise the file"),
    ]
    assert built.history_messages == 1


async def test_budget_keeps_the_most_recent_turns(db: Database) -> None:
    conversation = await new_conversation(db)
    ids = await add_turns(db, conversation, 9, body=BODY[:-3])  # every message costs the same
    current = ids[-1]
    one = TokenEstimator().message({"content": f"u0 {BODY[:-3]}"})
    assert one == BODY_COST

    exact = await build(db, conversation, current, budget=SYSTEM_COST + 3 * BODY_COST)
    assert [c[:2] for _, c in contents(exact)[1:]] == ["u6", "a7", "u8"]
    assert exact.estimate == SYSTEM_COST + 3 * BODY_COST
    assert exact.history_messages == 3

    short = await build(db, conversation, current, budget=SYSTEM_COST + 3 * BODY_COST - 1)
    assert [c[:2] for _, c in contents(short)[1:]] == ["a7", "u8"]
    assert short.estimate <= SYSTEM_COST + 3 * BODY_COST - 1

    everything = await build(db, conversation, current, budget=10**6)
    assert [c[:2] for _, c in contents(everything)[1:]] == [
        "u0",
        "a1",
        "u2",
        "a3",
        "u4",
        "a5",
        "u6",
        "a7",
        "u8",
    ]


async def test_only_the_current_message_fits(db: Database) -> None:
    conversation = await new_conversation(db)
    ids = await add_turns(db, conversation, 5, body=BODY[:-3])
    built = await build(db, conversation, ids[-1], budget=SYSTEM_COST + BODY_COST)
    assert contents(built)[0] == ("system", SYSTEM)
    assert [c[:2] for _, c in contents(built)[1:]] == ["u4"]
    assert built.history_messages == 1


async def test_failed_empty_and_in_progress_messages_are_skipped(db: Database) -> None:
    conversation = await new_conversation(db)
    u1 = await db.messages.add(conversation, "user", "first question")
    await db.messages.add(conversation, "assistant", "boom", status=FAILED, reply_to_id=u1)
    u2 = await db.messages.add(conversation, "user", "second question")
    await db.messages.add(conversation, "assistant", "", status=COMPLETE, reply_to_id=u2)
    await db.messages.add(conversation, "user", "   \n ")
    u3 = await db.messages.add(conversation, "user", "third question")
    await db.messages.add(
        conversation, "assistant", "half an ans", status=INCOMPLETE, reply_to_id=u3
    )
    u4 = await db.messages.add(conversation, "user", "fourth question")
    await db.messages.add(
        conversation, "assistant", "streaming…", status=IN_PROGRESS, reply_to_id=u4
    )
    current = await db.messages.add(conversation, "user", "fifth question")
    built = await build(db, conversation, current)
    assert contents(built) == [
        ("system", SYSTEM),
        ("user", "first question"),
        ("user", "second question"),
        ("user", "third question"),
        ("assistant", "half an ans"),
        ("user", "fourth question"),
        ("user", "fifth question"),
    ]
    for message in built.messages:
        assert message["content"].strip()


async def test_a_late_answer_is_ordered_after_the_message_it_answers(db: Database) -> None:
    """Two users ask at once: the answer to the first is stored after the second question."""
    conversation = await new_conversation(db, is_group=True)
    q1 = await db.messages.add(conversation, "user", "question one", author_name="Ann")
    q2 = await db.messages.add(conversation, "user", "question two", author_name="Bob")
    await db.messages.add(conversation, "assistant", "answer one", reply_to_id=q1)
    # A later user message (not yet the current turn) and the answer to q2 being written now.
    await db.messages.add(conversation, "user", "question three", author_name="Cy")
    await db.messages.add(conversation, "assistant", "answer two (old)", reply_to_id=q2)
    built = await build(db, conversation, q2, is_group=True)
    assert contents(built)[1:] == [
        ("user", "Ann: question one"),
        ("assistant", "answer one"),
        ("user", "Bob: question two"),
    ]
    assert built.history_messages == 3


async def test_an_answer_to_the_current_message_is_not_included(db: Database) -> None:
    conversation = await new_conversation(db)
    q1 = await db.messages.add(conversation, "user", "question one")
    await db.messages.add(conversation, "assistant", "earlier attempt", reply_to_id=q1)
    built = await build(db, conversation, q1)
    assert contents(built) == [("system", SYSTEM), ("user", "question one")]


async def test_newer_user_messages_are_excluded(db: Database) -> None:
    conversation = await new_conversation(db)
    q1 = await db.messages.add(conversation, "user", "q1")
    q2 = await db.messages.add(conversation, "user", "q2")
    await db.messages.add(conversation, "user", "q3")
    built = await build(db, conversation, q2)
    assert contents(built)[-1] == ("user", "q2")
    assert ("user", "q3") not in contents(built)
    built1 = await build(db, conversation, q1)
    assert contents(built1) == [("system", SYSTEM), ("user", "q1")]


async def test_group_conversation_prefixes_authors_and_adds_the_note(db: Database) -> None:
    conversation = await new_conversation(db, "-100123", is_group=True)
    q1 = await db.messages.add(
        conversation, "user", "hi all", author_id="telegram:1", author_name="Alice"
    )
    await db.messages.add(conversation, "assistant", "Hello Alice!", reply_to_id=q1)
    await db.messages.add(conversation, "user", "anonymous", author_id="telegram:3")
    current = await db.messages.add(
        conversation, "user", "what did Alice say?", author_id="telegram:2", author_name="Bob"
    )
    built = await build(db, conversation, current, is_group=True)
    system = built.messages[0]
    assert system["role"] == "system"
    assert system["content"].startswith(SYSTEM)
    assert GROUP_NOTE in system["content"]
    assert contents(built)[1:] == [
        ("user", "Alice: hi all"),
        ("assistant", "Hello Alice!"),
        ("user", "anonymous"),
        ("user", "Bob: what did Alice say?"),
    ]


async def test_private_conversation_has_no_prefix_and_no_group_note(db: Database) -> None:
    conversation = await new_conversation(db)
    current = await db.messages.add(conversation, "user", "hello", author_name="Alice")
    built = await build(db, conversation, current)
    assert contents(built) == [("system", SYSTEM), ("user", "hello")]
    assert GROUP_NOTE not in built.messages[0]["content"]


async def test_group_prefix_counts_against_the_budget(db: Database) -> None:
    conversation = await new_conversation(db, is_group=True)
    current = await db.messages.add(conversation, "user", "x" * 400, author_name="Alexandra")
    system_cost = TokenEstimator().message({"content": f"{SYSTEM}\n\n{GROUP_NOTE}"})
    plain_cost = 100 + MESSAGE_OVERHEAD
    with pytest.raises(MessageOverBudget):
        await build(db, conversation, current, budget=system_cost + plain_cost, is_group=True)


async def test_message_too_long(db: Database) -> None:
    conversation = await new_conversation(db)
    await add_turns(db, conversation, 4)
    current = await db.messages.add(conversation, "user", "x" * 4000)  # 1000 tokens
    with pytest.raises(MessageOverBudget) as info:
        await build(db, conversation, current, budget=500)
    assert info.value.tokens == 1000 + MESSAGE_OVERHEAD
    assert info.value.limit == 500 - SYSTEM_COST
    # One token more than needed is enough.
    built = await build(db, conversation, current, budget=SYSTEM_COST + 1000 + MESSAGE_OVERHEAD)
    assert contents(built) == [("system", SYSTEM), ("user", "x" * 4000)]


async def test_message_too_long_when_the_system_prompt_eats_the_budget(db: Database) -> None:
    conversation = await new_conversation(db)
    current = await db.messages.add(conversation, "user", "hi")
    with pytest.raises(MessageOverBudget) as info:
        await build(db, conversation, current, budget=10, system="s" * 400)
    assert info.value.limit == 0


async def test_other_conversations_are_not_mixed_in(db: Database) -> None:
    mine = await new_conversation(db, "1")
    other = await new_conversation(db, "2")
    await db.messages.add(other, "user", "someone else's secret")
    await db.messages.add(mine, "user", "my first")
    await db.messages.add(other, "user", "someone else's second")
    current = await db.messages.add(mine, "user", "my second")
    built = await build(db, mine, current)
    assert contents(built) == [("system", SYSTEM), ("user", "my first"), ("user", "my second")]


class CountingMessages:
    """Delegates to the repository and counts page reads."""

    def __init__(self, inner: MessageRepository) -> None:
        self.inner = inner
        self.pages = 0

    async def page(self, conversation_id: int, **kwargs: Any) -> list[Any]:
        self.pages += 1
        return await self.inner.page(conversation_id, **kwargs)

    async def get(self, message_id: int) -> Any:
        return await self.inner.get(message_id)


@pytest.mark.parametrize(
    "budget", [100_000, SYSTEM_COST + 7 * BODY_COST, SYSTEM_COST + 25 * BODY_COST]
)
async def test_small_pages_give_the_same_result(db: Database, budget: int) -> None:
    conversation = await new_conversation(db)
    ids = await add_turns(db, conversation, 50, body=BODY[:-4])
    current = ids[-2]  # a user message, with one newer answer stored after it
    small = await build(db, conversation, current, budget=budget, page_size=4)
    large = await build(db, conversation, current, budget=budget, page_size=100)
    exact = await build(db, conversation, current, budget=budget, page_size=49)
    assert small.messages == large.messages == exact.messages
    assert small.estimate == large.estimate
    assert small.history_messages == large.history_messages
    assert contents(small)[-1][0] == "user"
    assert contents(small)[-1][1].startswith("u48")


async def test_reading_stops_once_the_budget_is_full(db: Database) -> None:
    conversation = await new_conversation(db)
    ids = await add_turns(db, conversation, 50, body=BODY[:-4])
    counting = CountingMessages(db.messages)
    built = await build(
        counting,  # type: ignore[arg-type]
        conversation,
        ids[-2],
        budget=SYSTEM_COST + 5 * BODY_COST,
        page_size=4,
    )
    assert built.history_messages == 5
    # Rows read: the newer answer (skipped), 5 that fit, 1 that does not = 7 rows = 2 pages of 4.
    assert counting.pages == 2


async def test_current_message_is_kept_when_a_late_answer_is_too_big(db: Database) -> None:
    conversation = await new_conversation(db, is_group=True)
    q1 = await db.messages.add(conversation, "user", "question one")
    q2 = await db.messages.add(conversation, "user", "question two")
    await db.messages.add(conversation, "assistant", "z" * 4000, reply_to_id=q1)  # 1000 tokens
    built = await build(db, conversation, q2, budget=200)
    assert contents(built)[-1] == ("user", "question two")


async def test_late_answer_that_fits_alone_does_not_cause_message_too_long(
    db: Database,
) -> None:
    conversation = await new_conversation(db, is_group=True)
    q1 = await db.messages.add(conversation, "user", "question one")
    q2 = await db.messages.add(conversation, "user", "x" * 400)  # 100 tokens
    await db.messages.add(conversation, "assistant", "z" * 400, reply_to_id=q1)  # 100 tokens
    # Room for the system prompt, the current message and a little more, not for both.
    built = await build(db, conversation, q2, budget=SYSTEM_COST + 104 + 50)
    assert contents(built)[-1] == ("user", "x" * 400)
