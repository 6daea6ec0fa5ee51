"""The Slack emulator takes feedback buttons as Slack does: on ``chat.stopStream`` and
``chat.update``, checked against the context actions block's rules, and a press on one of the two
buttons reports that button's value (through the real slack-sdk client)."""

from __future__ import annotations

import copy

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.feedback import BUTTONS, answer_blocks, pressed
from emulators.slack import SlackEmulator
from tests.slack.conftest import BOT_TOKEN, emu  # noqa: F401 (fixture)


def client_of(emu: SlackEmulator) -> AsyncWebClient:  # noqa: F811
    return AsyncWebClient(token=BOT_TOKEN, base_url=f"{emu.url}/api/", retry_handlers=[])


async def test_stop_stream_and_update_record_the_feedback_block(
    emu: SlackEmulator,  # noqa: F811
) -> None:
    client = client_of(emu)
    blocks = answer_blocks(7, "zh")
    stream = await client.chat_stream(
        channel="D1", thread_ts=None, recipient_team_id=emu.team_id, recipient_user_id="U1"
    )  # type: ignore[arg-type]
    await stream.append(markdown_text="an answer")
    await stream.stop(blocks=blocks)
    posted = await client.chat_postMessage(channel="C1", text="second answer")
    await client.chat_update(channel="C1", ts=posted["ts"], text="second answer", blocks=blocks)
    streamed, edited = emu.messages("D1")[0], emu.messages("C1")[0]
    assert streamed.text == "an answer" and streamed.blocks == blocks
    assert edited.text == "second answer" and edited.blocks == blocks
    element = blocks[0]["elements"][0]
    assert element["positive_button"]["accessibility_label"] == "回答得好"


@pytest.mark.parametrize(
    "broken",
    [
        lambda b: b[0]["elements"][0].pop("negative_button"),
        lambda b: b[0]["elements"][0]["positive_button"].update(value=""),
        lambda b: b[0]["elements"][0]["positive_button"]["text"].update(text="x" * 76),
        lambda b: b[0].update(elements=[]),
        lambda b: b[0]["elements"][0].update(type="button"),
    ],
    ids=["no-negative", "empty-value", "long-text", "no-elements", "wrong-element"],
)
async def test_a_broken_feedback_block_is_refused_like_slack_does(
    emu: SlackEmulator,  # noqa: F811
    broken: object,
) -> None:
    client = client_of(emu)
    blocks = copy.deepcopy(answer_blocks(7, "en"))
    broken(blocks)  # type: ignore[operator]
    posted = await client.chat_postMessage(channel="C1", text="answer")
    with pytest.raises(SlackApiError) as refused:
        await client.chat_update(channel="C1", ts=posted["ts"], text="answer", blocks=blocks)
    assert refused.value.response["error"] == "invalid_blocks"
    assert emu.messages("C1")[0].blocks is None


async def test_a_press_reports_the_chosen_buttons_value(
    emu: SlackEmulator,  # noqa: F811
) -> None:
    client = client_of(emu)
    posted = await client.chat_postMessage(
        channel="C1", text="answer", blocks=answer_blocks(12, "en")
    )
    sent: list[dict[str, object]] = []

    async def record(payload: dict[str, object]) -> object:
        sent.append(payload)
        return None

    emu.sender.send_interaction = record  # type: ignore[method-assign]
    for choice in ("positive", "negative"):
        await emu.click_button("C1", posted["ts"], "U1", BUTTONS, choice=choice)
    actions = [payload["actions"][0] for payload in sent]  # type: ignore[index]
    assert [a["type"] for a in actions] == ["feedback_buttons"] * 2
    assert [pressed(a) for a in actions] == [(1, 12), (-1, 12)]
    with pytest.raises(ValueError, match="choice"):
        await emu.click_button("C1", posted["ts"], "U1", BUTTONS)
