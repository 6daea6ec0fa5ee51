"""Exactly once and only from Slack: retries, a second worker, signatures, the bot's own echo."""

from __future__ import annotations

import time

from emulators.moonshot import Fault
from emulators.slack import SlackEmulator
from emulators.slack.payloads import event_callback, message_changed_event, user_message_event
from tests.slack.conftest import SlackBot, StartBot


async def test_redelivered_event_is_answered_once(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    moonshot.inject(Fault(kind="slow_tokens", delay=0.02, times=1))
    sent = await emu.user_message("D1", "U1", "only once please")
    # Slack retries while the first answer is still streaming, and again later.
    retry = await emu.redeliver(sent.envelopes[0], retry_num=1, reason="http_timeout")
    assert retry.status == 200, "a redelivery is acknowledged, not refused"
    await bot.idle()
    await emu.redeliver(sent.envelopes[0], retry_num=2)
    await bot.idle()
    assert len(moonshot.requests) == 1
    assert [m.text for m in emu.messages("D1")] == ["Echo (kimi-k2): only once please"]


async def test_a_second_worker_does_not_answer_the_same_event(
    emu: SlackEmulator, start_bot: StartBot, moonshot, sqlite_url: str
) -> None:
    first = await start_bot(database_url=sqlite_url)
    second = await start_bot(database_url=sqlite_url, route=False)
    sent = await emu.user_message("C1", "U1", "hello workers", mention_bot=True)
    mention = sent.envelope("app_mention")
    status, _ = await emu.post_event(mention, url=second.events_url)
    assert status == 200
    await first.idle()
    await second.idle()
    assert len(moonshot.requests) == 1
    assert len(emu.messages("C1", thread_ts=sent.ts)) == 1


async def test_bad_signature_and_stale_timestamp_are_refused(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    event = user_message_event(
        channel=emu.workspace.channels["D1"],
        user="U1",
        text="forged",
        ts="1.000100",
        team_id="T001",
    )
    payload = event_callback(event, team_id="T001", app_id="A0APP", bot_user_id=emu.bot_user_id)
    forged, _ = await emu.post_event(payload, signature="v0=" + "0" * 64)
    stale, _ = await emu.post_event(payload, timestamp=int(time.time()) - 600)
    unsigned, _ = await emu.post_event(payload, sign=False)
    assert (forged, stale, unsigned) == (401, 401, 401)
    await bot.idle()
    assert moonshot.requests == []
    assert emu.messages("D1") == []
    # The very same payload, properly signed, is answered: the refusals were about signing.
    ok, _ = await emu.post_event(payload)
    assert ok == 200
    await bot.idle()
    assert [m.text for m in emu.messages("D1")] == ["Echo (kimi-k2): forged"]


async def test_url_verification_handshake(emu: SlackEmulator, bot: SlackBot) -> None:
    echoed, body = await emu.url_verification()
    assert echoed, body


async def test_own_messages_edits_and_deletions_are_ignored(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    emu.echo_bot_events = True  # Slack sends the bot its own posts and edits, too
    emu.api.config.streaming_enabled = False  # the emulator echoes posts and edits, not streams
    root = await emu.user_message("C1", "U1", "hi bot", mention_bot=True)
    await bot.idle()
    # The echoes of the bot's own post and edits: wait until the bot has acknowledged each.
    await emu.wait_for(lambda: len(emu.deliveries) >= 3)
    await emu.wait_for(lambda: all(d.status is not None for d in emu.deliveries))
    echoed = [d.payload["event"] for d in emu.deliveries[2:]]
    assert any(e.get("bot_id") == emu.bot_id for e in echoed)
    [answer] = emu.messages("C1", thread_ts=root.ts)
    await emu.send_event(
        {**answer.to_api("T001", "A0APP"), "channel": "C1", "channel_type": "channel"}
    )
    edit = message_changed_event(
        answer, answer.to_api("T001", "A0APP"), emu.workspace.channels["C1"], "T001", "A0APP"
    )
    await emu.send_event(edit)
    await emu.send_event(
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": "C1",
            "channel_type": "channel",
            "deleted_ts": root.ts,
            "ts": f"{time.time():.6f}",
            "hidden": True,
        }
    )
    await bot.idle()
    assert len(moonshot.requests) == 1
    assert len(emu.messages("C1", thread_ts=root.ts)) == 1
