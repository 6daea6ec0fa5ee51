"""The adapter's pure parts: Markdown to mrkdwn, routing, command mapping, Retry-After, splitting."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bots.common.splitting import split_markdown
from bots.slack.answer import MRKDWN_LIMIT, NATIVE_LIMIT, Answer
from bots.slack.api import call, retry_after
from bots.slack.mrkdwn import to_mrkdwn
from bots.slack.routing import question_text, route
from bots.slack.sink import StreamGate
from bots.slack.slash import command_text
from bots.slack.target import ReplyTarget
from emulators.moonshot.answers import long_text
from emulators.slack import SlackEmulator
from tests.slack.conftest import BOT_TOKEN


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and *it* and ~~gone~~", "*bold* and _it_ and ~gone~"),
        ("# Heading with **bold**", "*Heading with bold*"),
        ("[docs](https://x.io/a?b=1&c=2)", "<https://x.io/a?b=1&c=2|docs>"),
        ("<https://x.io>", "<https://x.io>"),
        ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
        ("```python\nif a < b:\n    **x**\n```", "```\nif a &lt; b:\n    **x**\n```"),
        ("- one\n- two\n  1. sub", "• one\n• two\n    1. sub"),
        ("> quoted\n> text", "> quoted\n> text"),
        ("|a|b|\n|-|-|\n|1|2|", "```\na | b\n--+--\n1 | 2\n```"),
        ("use `x<y`", "use `x&lt;y`"),
        ("** spaced **", "** spaced **"),
        ("[bad](javascript:alert(1))", "[bad](javascript:alert(1))"),
    ],
)
def test_markdown_to_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def _event(**fields: Any) -> dict[str, Any]:
    base = {"type": "message", "user": "U1", "ts": "2.000", "channel": "C1", "text": "hi"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (_event(channel="D1", channel_type="im"), ("D1", "", None, False)),
        (
            _event(channel="D1", channel_type="im", thread_ts="1.000"),
            ("D1", "1.000", "1.000", False),
        ),
        (_event(type="app_mention", text="<@UB> hi"), ("C1", "2.000", "2.000", False)),
        (_event(type="app_mention", thread_ts="1.000"), ("C1", "1.000", "1.000", False)),
        (_event(channel_type="channel", thread_ts="1.000"), ("C1", "1.000", "1.000", True)),
        (_event(channel_type="group", thread_ts="1.000"), ("C1", "1.000", "1.000", True)),
        (_event(channel_type="channel"), None),  # top level without a mention
        (_event(channel_type="channel", thread_ts="1.000", text="<@UB> hi"), None),  # mention twin
        (_event(type="app_mention", channel="D1"), None),  # DMs answer from the message
        (_event(channel="D1", channel_type="im", bot_id="B1"), None),
        (_event(channel="D1", channel_type="im", user="UB"), None),
        (_event(channel="D1", channel_type="im", subtype="message_changed"), None),
        (_event(channel="D1", channel_type="im", subtype="message_deleted", user=None), None),
        (_event(channel="D1", channel_type="im", subtype="bot_message"), None),
        (_event(channel="D1", channel_type="im", subtype="channel_join"), None),
        (_event(channel="D1", channel_type="im", subtype="file_share"), ("D1", "", None, False)),
    ],
)
def test_routing(event: dict[str, Any], expected: tuple[str, str, str | None, bool] | None) -> None:
    addressed = route(event, team_id="T1", bot_user_id="UB")
    if expected is None:
        assert addressed is None
        return
    assert addressed is not None
    chat, thread, reply_to, engaged = expected
    assert (addressed.key.chat, addressed.key.thread) == (chat, thread)
    assert addressed.key.workspace == "T1" and addressed.key.platform == "slack"
    assert addressed.target.thread_ts == reply_to
    assert addressed.target.status_ts == (reply_to or event["ts"])
    assert addressed.needs_engagement is engaged
    assert addressed.is_group is (not chat.startswith("D"))


def test_question_text_strips_the_mention_and_slack_markup() -> None:
    text = "<@UB|kimi> compare <https://a.io|A> and <https://b.io> &amp; say 1 &lt; 2 to <@U2>"
    assert (
        question_text(text, "UB")
        == "compare A (https://a.io) and https://b.io & say 1 < 2 to <@U2>"
    )


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", "/help"),
        ("reset", "/reset"),
        ("  Model  kimi-k2", "/model kimi-k2"),
        ("/system be brief", "/system be brief"),
        ("what is 2+2?", "/ask what is 2+2?"),
    ],
)
def test_slash_text_maps_to_engine_commands(text: str, command: str) -> None:
    assert command_text(text) == command


def _rate_limited(retry_after_header: str) -> SlackApiError:
    response = AsyncSlackResponse(
        client=None,
        http_verb="POST",
        api_url="http://slack/api/chat.update",
        req_args={},
        data={"ok": False, "error": "ratelimited"},
        headers={"retry-after": retry_after_header},
        status_code=429,
    )
    return SlackApiError("ratelimited", response)


async def test_retry_after_is_read_whole_and_honoured() -> None:
    assert retry_after(_rate_limited("12")) == 12.0
    slept: list[float] = []
    attempts: list[int] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def attempt(number: int) -> str:
        attempts.append(number)
        if number < 2:
            raise _rate_limited(str(10 + number))
        return "ok"

    assert await call(attempt, sleep=sleep) == "ok"
    assert (attempts, slept) == ([0, 1, 2], [10.0, 11.0])


async def test_non_rate_limit_errors_are_not_retried() -> None:
    calls = 0

    async def attempt(_number: int) -> None:
        nonlocal calls
        calls += 1
        raise SlackApiError("nope", {"ok": False, "error": "channel_not_found"})

    with pytest.raises(SlackApiError):
        await call(attempt)
    assert calls == 1


def test_stream_gate_remembers_refusals_per_kind() -> None:
    now = [0.0]
    gate = StreamGate(retry_after=60, clock=lambda: now[0])
    dm_top = ReplyTarget("D1", None, "1.0", "U1", "T1")
    thread = ReplyTarget("C1", "1.0", "1.0", "U1", "T1")
    gate.refused(dm_top)
    assert not gate.allows(dm_top) and gate.allows(thread)
    now[0] = 61
    assert gate.allows(dm_top)


@pytest.mark.parametrize("native", [True, False])
async def test_answer_shown_in_growing_steps_settles_parts_once(native: bool) -> None:
    """Previews of a 40,000-character answer, 1,500 characters at a time, then the final text."""
    async with SlackEmulator(bot_token=BOT_TOKEN) as emu:
        emu.add_user("U1", "alice")
        emu.add_channel("D1", is_im=True, user="U1")
        client = AsyncWebClient(token=BOT_TOKEN, base_url=emu.api_url)
        answer = Answer(client, ReplyTarget("D1", None, None, "U1", emu.team_id), native=native)
        text = long_text(40_000)
        for end in range(1_500, len(text), 1_500):
            await answer.show(text[:end])
        await answer.finish(text)
        messages = emu.messages("D1")
        assert len(messages) == answer.messages == len(answer.parts(text))
        limit = NATIVE_LIMIT if native else MRKDWN_LIMIT
        assert all(0 < len(m.text) <= limit for m in messages)
        shown = "\n".join(m.text for m in messages).replace("&gt;", ">").replace("&lt;", "<")
        words = [w for w in shown.split() if not w.startswith("```")]
        assert words == [w for w in text.split() if not w.startswith("```")]
        assert emu.calls_of("chat.delete") == []
        if native:
            assert all(m.streamed and m.stream_state == "stopped" for m in messages)
            assert len(emu.calls_of("chat.startStream")) == len(messages)


def test_split_prefix_stability() -> None:
    """What Answer relies on: parts of a prefix ending a line, but the last, never change."""
    text = long_text(30_000)
    final = split_markdown(text, NATIVE_LIMIT)
    for cut in range(0, len(text), 997):
        end = text.rfind("\n", 0, cut) + 1
        settled = split_markdown(text[:end], NATIVE_LIMIT)[:-1]
        assert final[: len(settled)] == settled
