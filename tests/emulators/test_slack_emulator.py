"""The Slack emulator, exercised through the real slack-sdk and slack-bolt.

Every test talks to the emulator over real HTTP/WebSocket with the libraries the bot uses,
so a wrong wire format (parameter names, JSON vs form, envelope shape, signing) fails here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from emulators.slack import SlackEmulator

BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
SECRET = "secret"


@pytest.fixture
async def emu() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        signing_secret=SECRET,
        team_id="T001",
        bot_user_id="U0BOT",
        streaming_enabled=True,
    )
    await emulator.start(host="127.0.0.1", port=0)
    emulator.add_user("U1", name="alice", real_name="Alice Smith", display_name="Alice")
    emulator.add_channel("C1", name="general", is_im=False)
    emulator.add_channel("D1", is_im=True, user="U1")
    yield emulator
    await emulator.stop()


@pytest.fixture
def client(emu: SlackEmulator) -> AsyncWebClient:
    # No retry handlers: tests see every error the emulator answers.
    return AsyncWebClient(token=BOT_TOKEN, base_url=f"{emu.url}/api/", retry_handlers=[])


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    valid: bool

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A minimal bot endpoint: verifies Slack's signature with slack_sdk and records requests."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0


@pytest.fixture
async def receiver(emu: SlackEmulator) -> AsyncIterator[Receiver]:
    state = Receiver()
    verifier = SignatureVerifier(SECRET)

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        valid = verifier.is_valid(
            body,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
        )
        state.requests.append(Received(dict(request.headers), body, valid))
        if state.delay:
            await asyncio.sleep(state.delay)
        if not valid:
            return web.Response(status=401, text="invalid signature")
        return web.Response(status=state.status, text="")

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/slack/events"
    emu.events_url = state.url
    yield state
    await runner.cleanup()


# --------------------------------------------------------------------------- Web API


async def test_auth_test_identifies_the_bot_and_rejects_bad_tokens(emu: SlackEmulator) -> None:
    good = AsyncWebClient(token=BOT_TOKEN, base_url=f"{emu.url}/api/")
    resp = await good.auth_test()
    assert (resp["user_id"], resp["bot_id"], resp["team_id"]) == ("U0BOT", "B0BOT", "T001")
    assert resp["url"].startswith(emu.url)

    bad = AsyncWebClient(token="xoxb-wrong", base_url=f"{emu.url}/api/")
    with pytest.raises(SlackApiError) as err:
        await bad.auth_test()
    assert err.value.response["error"] == "invalid_auth"

    app_token_client = AsyncWebClient(token=APP_TOKEN, base_url=f"{emu.url}/api/")
    with pytest.raises(SlackApiError) as err:
        await app_token_client.chat_postMessage(channel="C1", text="hi")
    assert err.value.response["error"] == "not_allowed_token_type"


async def test_users_and_conversations_info(emu: SlackEmulator, client: AsyncWebClient) -> None:
    user = (await client.users_info(user="U1"))["user"]
    assert user["profile"]["display_name"] == "Alice"
    assert user["profile"]["real_name"] == "Alice Smith"
    dm = (await client.conversations_info(channel="D1"))["channel"]
    assert dm["is_im"] is True and dm["user"] == "U1"
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="U404")
    assert err.value.response["error"] == "user_not_found"


async def test_post_then_update_records_history(emu: SlackEmulator, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="thinking…", thread_ts="1.000001")
    ts = posted["ts"]
    assert posted["message"]["bot_id"] == "B0BOT"
    await client.chat_update(channel="C1", ts=ts, text="partial answer")
    await client.chat_update(channel="C1", ts=ts, text="final answer")

    [msg] = emu.messages("C1", thread_ts="1.000001")
    assert msg.ts == ts
    assert msg.text == "final answer"
    assert msg.updates == ["partial answer", "final answer"]
    assert msg.streamed is False and msg.stream_state is None
    assert [c.method for c in emu.calls] == ["chat.postMessage", "chat.update", "chat.update"]
    assert emu.calls_of("chat.update")[1].params["text"] == "final answer"

    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel="C1", ts="999.000000", text="x")
    assert err.value.response["error"] == "message_not_found"


async def test_size_limits(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="x" * 40_001)
    assert err.value.response["error"] == "msg_too_long"

    section = {"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="fallback", blocks=[section])
    assert err.value.response["error"] == "invalid_blocks"

    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="a", markdown_text="**a**")
    assert err.value.response["error"] == "markdown_text_conflict"

    ok = await client.chat_postMessage(channel="C1", text="x" * 40_000)
    assert ok["ok"] is True


async def test_delete_ephemeral_and_reaction(
    emu: SlackEmulator, client: AsyncWebClient, receiver: Receiver
) -> None:
    posted = await client.chat_postMessage(channel="C1", text="oops")
    await client.chat_delete(channel="C1", ts=posted["ts"])
    assert emu.messages("C1") == []
    assert emu.messages("C1", include_deleted=True)[0].deleted is True

    eph = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert emu.ephemerals[0]["message_ts"] == eph["message_ts"]

    sent = await emu.user_message("C1", "U1", "react to me")
    await client.reactions_add(channel="C1", timestamp=sent.ts, name="eyes")
    assert emu.reactions == [("C1", sent.ts, "eyes")]
    with pytest.raises(SlackApiError) as err:
        await client.reactions_add(channel="C1", timestamp=sent.ts, name="eyes")
    assert err.value.response["error"] == "already_reacted"
    with pytest.raises(SlackApiError) as err:
        await client.chat_delete(channel="C1", ts=sent.ts)
    assert err.value.response["error"] == "cant_delete_message"


async def test_posting_to_a_user_id_lands_in_the_dm(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    opened = await client.conversations_open(users="U1")
    assert opened["channel"]["id"] == "D1"
    resp = await client.chat_postMessage(channel="U1", text="psst")
    assert resp["channel"] == "D1"
    assert [m.text for m in emu.messages("D1")] == ["psst"]


# --------------------------------------------------------------------------- streaming


async def test_chat_stream_helper_concatenates_markdown(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    streamer = await client.chat_stream(
        channel="C1",
        thread_ts="1700000000.000100",
        recipient_team_id="T001",
        recipient_user_id="U1",
        buffer_size=10,
    )
    await streamer.append(markdown_text="**Hello")
    await streamer.append(markdown_text=" wor")  # crosses buffer_size: startStream
    await streamer.append(markdown_text="ld!**")
    await streamer.append(markdown_text=" and more text")  # appendStream
    await streamer.stop(markdown_text=" Bye.")

    [msg] = emu.messages("C1", thread_ts="1700000000.000100")
    assert msg.ts == streamer.ts
    assert msg.streamed is True
    assert msg.stream_state == "stopped"
    assert msg.text == "**Hello world!** and more text Bye."
    assert [
        len(emu.calls_of(m)) for m in ("chat.startStream", "chat.appendStream", "chat.stopStream")
    ] == [1, 1, 1]

    with pytest.raises(SlackApiError) as err:
        await client.chat_appendStream(channel="C1", ts=msg.ts, markdown_text="late")
    assert err.value.response["error"] == "message_not_in_streaming_state"


async def test_expired_stream_refuses_appends_and_update_still_works(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    started = await client.chat_startStream(
        channel="D1",
        thread_ts="1.000001",
        recipient_team_id="T001",
        recipient_user_id="U1",
        markdown_text="Part one. ",
    )
    ts = started["ts"]
    [open_msg] = emu.messages("D1")
    assert open_msg.stream_state == "streaming"

    assert emu.expire_streams() == [ts]
    with pytest.raises(SlackApiError) as err:
        await client.chat_appendStream(channel="D1", ts=ts, markdown_text="Part two.")
    assert err.value.response["error"] == "message_not_in_streaming_state"
    with pytest.raises(SlackApiError) as err:
        await client.chat_stopStream(channel="D1", ts=ts)
    assert err.value.response["error"] == "message_not_in_streaming_state"

    await client.chat_update(channel="D1", ts=ts, text="Part one. Part two.")
    [msg] = emu.messages("D1")
    assert msg.text == "Part one. Part two."
    assert msg.stream_state == "stopped"


async def test_stream_rules(emu: SlackEmulator, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.chat_startStream(channel="C1", thread_ts="1.000001")
    assert err.value.response["error"] == "missing_recipient_user_id"

    started = await client.chat_startStream(
        channel="C1", thread_ts="1.000001", recipient_team_id="T001", recipient_user_id="U1"
    )
    with pytest.raises(SlackApiError) as err:
        await client.chat_appendStream(channel="C1", ts=started["ts"], markdown_text="z" * 12_001)
    assert err.value.response["error"] == "msg_too_long"

    emu.api.config.streaming_enabled = False
    with pytest.raises(SlackApiError) as err:
        await client.chat_startStream(
            channel="C1", thread_ts="1.000001", recipient_team_id="T001", recipient_user_id="U1"
        )
    assert err.value.response["error"] == "not_allowed"


async def test_set_status_is_recorded(emu: SlackEmulator, client: AsyncWebClient) -> None:
    await client.assistant_threads_setStatus(
        channel_id="D1",
        thread_ts="1.000001",
        status="is thinking…",
        loading_messages=["Reading", "Writing"],
    )
    await client.assistant_threads_setStatus(channel_id="D1", thread_ts="1.000001", status="")
    assert emu.statuses == [
        ("D1", "1.000001", "is thinking…", ["Reading", "Writing"]),
        ("D1", "1.000001", "", None),
    ]


# --------------------------------------------------------------------------- files


async def test_file_download_requires_the_bot_token(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    data = b"%PDF-1.4 fake"
    file = emu.add_file("F1", "report.pdf", "application/pdf", data, user="U1")
    assert file["filetype"] == "pdf" and file["size"] == len(data)

    async with aiohttp.ClientSession() as http:
        async with http.get(file["url_private_download"]) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            assert b"Sign in" in await resp.read()
        headers = {"Authorization": f"Bearer {BOT_TOKEN}"}
        async with http.get(file["url_private_download"], headers=headers) as resp:
            assert resp.content_type == "application/pdf"
            assert await resp.read() == data
    assert emu.file_downloads == [("F1", False), ("F1", True)]

    info = await client.files_info(file="F1")
    assert info["file"]["url_private_download"] == file["url_private_download"]


# --------------------------------------------------------------------------- events over HTTP


async def test_signed_event_verifies_with_slack_sdk(emu: SlackEmulator, receiver: Receiver) -> None:
    sent = await emu.user_message("D1", "U1", "hello there")
    [req] = receiver.requests
    assert req.valid is True
    event = req.json["event"]
    assert (event["type"], event["channel_type"], event["text"]) == ("message", "im", "hello there")
    assert event["ts"] == sent.ts
    assert sent.deliveries[0].acked is True

    bad_status, _ = await emu.post_event(req.json, signature="v0=" + "0" * 64)
    stale_status, _ = await emu.post_event(req.json, timestamp=int(time.time()) - 600)
    assert (bad_status, stale_status) == (401, 401)
    assert [r.valid for r in receiver.requests] == [True, False, False]


async def test_mention_sends_message_and_app_mention(
    emu: SlackEmulator, receiver: Receiver
) -> None:
    sent = await emu.user_message("C1", "U1", "what is up?", mention_bot=True)
    types = sorted(r.json["event"]["type"] for r in receiver.requests)
    assert types == ["app_mention", "message"]
    ids = {r.json["event_id"] for r in receiver.requests}
    assert len(ids) == 2 and ids == set(sent.event_ids)
    mention = sent.envelope("app_mention")["event"]
    assert mention["text"] == "<@U0BOT> what is up?"
    assert mention["ts"] == sent.envelope("message")["event"]["ts"] == sent.ts
    assert sent.envelope("message")["event"]["channel_type"] == "channel"


async def test_redeliver_carries_retry_headers(emu: SlackEmulator, receiver: Receiver) -> None:
    sent = await emu.user_message("C1", "U1", "retry me", thread_ts="1.000001")
    await emu.redeliver(sent.envelopes[0], retry_num=2, reason="http_timeout")
    first, retry = receiver.requests
    assert "X-Slack-Retry-Num" not in first.headers
    assert retry.headers["X-Slack-Retry-Num"] == "2"
    assert retry.headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert retry.json["event_id"] == first.json["event_id"]
    assert retry.valid is True


async def test_slow_ack_is_recorded_as_timeout(emu: SlackEmulator, receiver: Receiver) -> None:
    emu.ack_timeout = 0.2
    receiver.delay = 0.5
    sent = await emu.user_message("D1", "U1", "slow")
    assert sent.deliveries[0].acked is False
    assert sent.deliveries[0].error == "timeout"


async def test_file_share_event_carries_downloadable_files(
    emu: SlackEmulator, receiver: Receiver
) -> None:
    file = emu.add_file("F2", "notes.txt", "text/plain", b"hello", user="U1")
    await emu.user_message("D1", "U1", "see attached", files=[file])
    event = receiver.requests[0].json["event"]
    assert event["subtype"] == "file_share"
    assert event["files"][0]["url_private_download"] == file["url_private_download"]


async def test_bolt_http_mode_slash_command_and_response_url(emu: SlackEmulator) -> None:
    bolt = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token=BOT_TOKEN, base_url=f"{emu.url}/api/"),
    )

    @bolt.command("/kimi")
    async def on_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack(text=f"working on {command['text']}")
        await respond(text="memory cleared")

    runner = web.AppRunner(bolt.web_app(path="/slack/events"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        emu.events_url = f"http://127.0.0.1:{port}/slack/events"
        delivery = await emu.slash_command("/kimi", "reset", "C1", "U1")
        assert delivery.status == 200
        await emu.wait_for(lambda: len(emu.command_responses) == 2, timeout=5)
        # respond() may land before the HTTP ack body is read: compare by source.
        by_source = {r["source"]: r["body"] for r in emu.command_responses}
        assert by_source["ack"] == {"text": "working on reset"}
        assert by_source["response_url"]["text"] == "memory cleared"
        # Bolt rejects a forged signature: the emulator's signing is what makes it pass.
        status, _ = await emu.post_event({"type": "event_callback"}, signature="v0=bad")
        assert status == 401
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- Socket Mode


async def test_bolt_socket_mode_receives_event_and_acks(emu: SlackEmulator) -> None:
    bolt = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=f"{emu.url}/api/"),
    )
    seen: list[dict[str, Any]] = []

    @bolt.event("app_mention")
    async def on_mention(event: dict[str, Any], say: Any) -> None:
        seen.append(event)
        await say(text="hi!", thread_ts=event["ts"])

    @bolt.event("message")
    async def on_message() -> None:
        return None

    handler = AsyncSocketModeHandler(bolt, APP_TOKEN)
    await handler.connect_async()
    try:
        await emu.wait_for(lambda: emu.socket_connections == 1, timeout=5)
        sent = await emu.user_message("C1", "U1", "ping", mention_bot=True)
        assert all(d.transport == "socket" and d.acked for d in sent.deliveries)
        envelope_ids = {d.envelope_id for d in sent.deliveries}
        assert envelope_ids <= set(emu.acked_envelope_ids)
        replies = await emu.wait_for(lambda: emu.messages("C1", thread_ts=sent.ts), timeout=5)
        assert replies[0].text == "hi!"
        assert seen[0]["text"] == "<@U0BOT> ping"
        assert emu.socket.sent[0]["type"] == "events_api"
        assert emu.calls_of("apps.connections.open")
    finally:
        await handler.close_async()


async def test_socket_mode_wire_protocol(emu: SlackEmulator) -> None:
    """hello first, then envelopes; an envelope without an ack is recorded as unacked."""
    opened = await AsyncWebClient(base_url=f"{emu.url}/api/").apps_connections_open(
        app_token=APP_TOKEN
    )
    assert opened["url"].startswith("ws://")
    emu.ack_timeout = 0.3
    async with aiohttp.ClientSession() as http, http.ws_connect(opened["url"]) as ws:
        hello = await ws.receive_json(timeout=2)
        assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == "A0APP"

        sending = asyncio.create_task(emu.user_message("D1", "U1", "over the socket"))
        envelope = await ws.receive_json(timeout=2)
        assert envelope["type"] == "events_api"
        assert envelope["payload"]["event"]["text"] == "over the socket"
        assert envelope["retry_attempt"] == 0
        await ws.send_json({"envelope_id": envelope["envelope_id"]})
        sent = await sending
        assert sent.deliveries[0].acked is True
        assert emu.acked_envelope_ids == [envelope["envelope_id"]]

        unacked = asyncio.create_task(emu.slash_command("/kimi", "help", "D1", "U1"))
        command = await ws.receive_json(timeout=2)
        assert command["type"] == "slash_commands"
        assert command["payload"]["command"] == "/kimi" and command["accepts_response_payload"]
        delivery = await unacked
        assert delivery.acked is False and delivery.error == "timeout"

    # A second connection needs a fresh URL: tickets are single-use.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(opened["url"])


async def test_socket_mode_slash_command_and_reconnect(emu: SlackEmulator) -> None:
    bolt = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=f"{emu.url}/api/"))

    @bolt.command("/kimi")
    async def on_command(ack: Any, command: dict[str, Any]) -> None:
        await ack(text=f"ok: {command['text']}")

    handler = AsyncSocketModeHandler(bolt, APP_TOKEN)
    await handler.connect_async()
    try:
        await emu.wait_for(lambda: emu.socket_connections == 1, timeout=5)
        delivery = await emu.slash_command("/kimi", "reset", "C1", "U1")
        assert delivery.transport == "socket" and delivery.acked
        assert emu.command_responses == [{"source": "ack", "body": {"text": "ok: reset"}}]

        await emu.disconnect_sockets("refresh_requested")
        await emu.wait_for(lambda: len(emu.calls_of("apps.connections.open")) == 2, timeout=5)
        await emu.wait_for(lambda: emu.socket_connections == 1, timeout=5)
        again = await emu.slash_command("/kimi", "again", "C1", "U1")
        assert again.acked is True
    finally:
        await handler.close_async()


async def test_echoed_bot_messages_reach_the_bot(receiver: Receiver) -> None:
    """With echo on, the bot's own posts and edits come back as events, as in real Slack."""
    emu = SlackEmulator(echo_bot_events=True)
    await emu.start()
    try:
        emu.add_channel("C1", name="general")
        emu.events_url = receiver.url
        client = AsyncWebClient(token=BOT_TOKEN, base_url=f"{emu.url}/api/")
        ts = (await client.chat_postMessage(channel="C1", text="mine"))["ts"]
        await client.chat_update(channel="C1", ts=ts, text="mine, edited")
        await emu.wait_for(lambda: len(receiver.requests) == 2, timeout=5)
        events = sorted((r.json["event"] for r in receiver.requests), key=lambda e: "subtype" in e)
        assert events[0]["bot_id"] == "B0BOT" and events[0]["ts"] == ts
        assert events[1]["subtype"] == "message_changed"
        assert events[1]["message"]["text"] == "mine, edited"
    finally:
        await emu.stop()


# --------------------------------------------------------------------------- rate limits


async def test_injected_ratelimit_raises_or_is_retried(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.inject("chat.postMessage", error="ratelimited", retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="a")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"

    retrying = AsyncWebClient(
        token=BOT_TOKEN,
        base_url=f"{emu.url}/api/",
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    emu.inject("chat.postMessage", error="ratelimited", retry_after=0)
    resp = await retrying.chat_postMessage(channel="C1", text="b")
    assert resp["ok"] is True
    assert [c.status for c in emu.calls_of("chat.postMessage")] == [429, 429, 200]
    assert [m.text for m in emu.messages("C1")] == ["b"]


async def test_enforced_rate_limit_on_fast_updates() -> None:
    emu = SlackEmulator(enforce_rate_limits=True)
    await emu.start()
    try:
        emu.add_channel("C1", name="general")
        fast = AsyncWebClient(token=BOT_TOKEN, base_url=f"{emu.url}/api/", retry_handlers=[])
        ts = (await fast.chat_postMessage(channel="C1", text="0"))["ts"]
        statuses = []
        for i in range(6):
            try:
                await fast.chat_update(channel="C1", ts=ts, text=str(i))
                statuses.append(200)
            except SlackApiError as err:
                statuses.append(err.response.status_code)
        assert statuses[:3] == [200, 200, 200]
        assert 429 in statuses[3:]
        assert emu.rate_limit_violations[0].method == "chat.update"
    finally:
        await emu.stop()
