"""Sends events and slash commands to the bot: signed HTTP POSTs, or Socket Mode envelopes.

A connected Socket Mode client wins; otherwise HTTP to ``events_url``/``commands_url``.
Like Slack, the sender waits up to ``ack_timeout`` (3 s) for the acknowledgement and
records late or missing acks; it does not retry on its own (call ``redeliver``).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from .payloads import socket_envelope
from .signing import signed_headers
from .socket_mode import SocketModeServer

Transport = Literal["http", "socket"]
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


@dataclass
class Delivery:
    """One attempt to hand an event/command to the bot, and how the bot answered."""

    transport: Transport
    kind: str  # "events_api" | "slash_commands" | "interactive" | "url_verification"
    payload: dict[str, Any]
    retry_num: int = 0
    retry_reason: str | None = None
    envelope_id: str | None = None
    status: int | None = None
    body: str = ""
    acked: bool = False
    ack_payload: dict[str, Any] | None = None
    elapsed: float = 0.0
    error: str | None = None

    @property
    def event_id(self) -> str | None:
        return self.payload.get("event_id")


class EventSender:
    """Chooses the transport and performs one delivery; keeps every Delivery in order."""

    def __init__(
        self, signing_secret: str, socket: SocketModeServer, ack_timeout: float = 3.0
    ) -> None:
        self.signing_secret = signing_secret
        self.socket = socket
        self.ack_timeout = ack_timeout
        self.events_url: str | None = None
        self.commands_url: str | None = None
        self.deliveries: list[Delivery] = []
        self.command_responses: list[dict[str, Any]] = []
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("emulator not started")
        return self._session

    def _transport(self) -> Transport:
        if self.socket.connected:
            return "socket"
        if self.events_url:
            return "http"
        raise RuntimeError("no bot to deliver to: set events_url or connect a Socket Mode client")

    async def send_event(
        self, payload: dict[str, Any], *, retry_num: int = 0, retry_reason: str | None = None
    ) -> Delivery:
        transport = self._transport()
        delivery = Delivery(transport, "events_api", payload, retry_num, retry_reason)
        self.deliveries.append(delivery)
        if transport == "socket":
            envelope = socket_envelope(
                "events_api", payload, retry_attempt=retry_num, retry_reason=retry_reason or ""
            )
            await self._over_socket(delivery, envelope)
        else:
            headers = {"Content-Type": "application/json"}
            if retry_num:
                headers["X-Slack-Retry-Num"] = str(retry_num)
                headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
            await self._over_http(delivery, str(self.events_url), json.dumps(payload), headers)
        return delivery

    async def send_command(self, form: dict[str, str]) -> Delivery:
        transport = self._transport()
        delivery = Delivery(transport, "slash_commands", dict(form))
        self.deliveries.append(delivery)
        if transport == "socket":
            await self._over_socket(delivery, socket_envelope("slash_commands", dict(form)))
            if delivery.ack_payload:
                self.command_responses.append({"source": "ack", "body": delivery.ack_payload})
        else:
            url = self.commands_url or self.events_url
            body = urllib.parse.urlencode(form)
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            await self._over_http(delivery, str(url), body, headers)
            if delivery.body.strip():
                try:
                    parsed: Any = json.loads(delivery.body)
                except json.JSONDecodeError:
                    parsed = {"text": delivery.body}
                self.command_responses.append({"source": "ack", "body": parsed})
        return delivery

    async def send_interaction(self, payload: dict[str, Any]) -> Delivery:
        """A button press: a signed form POST with one ``payload`` field holding the JSON
        (Slack's Interactivity Request URL, here ``events_url``), or an ``interactive``
        envelope in Socket Mode."""
        transport = self._transport()
        delivery = Delivery(transport, "interactive", payload)
        self.deliveries.append(delivery)
        if transport == "socket":
            await self._over_socket(delivery, socket_envelope("interactive", payload))
        else:
            body = urllib.parse.urlencode({"payload": json.dumps(payload)})
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            await self._over_http(delivery, str(self.events_url), body, headers)
        return delivery

    def schedule(self, payload: dict[str, Any]) -> None:
        """Fire-and-forget delivery (echo of the bot's own messages); dropped if nobody listens."""
        if not (self.socket.connected or self.events_url):
            return
        task = asyncio.get_running_loop().create_task(self.send_event(payload))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def post_raw(self, url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
        """An HTTP POST with exactly these headers (for forged signatures and the like)."""
        async with self.session.post(
            url, data=body.encode(), headers={"User-Agent": USER_AGENT, **headers}
        ) as resp:
            return resp.status, await resp.text()

    async def _over_socket(self, delivery: Delivery, envelope: dict[str, Any]) -> None:
        delivery.envelope_id = envelope["envelope_id"]
        started = time.monotonic()
        ack = await self.socket.send(envelope, self.ack_timeout)
        delivery.elapsed = time.monotonic() - started
        if ack is None:
            delivery.error = "timeout"
        else:
            delivery.acked = True
            delivery.ack_payload = ack.payload

    async def _over_http(
        self, delivery: Delivery, url: str, body: str, headers: dict[str, str]
    ) -> None:
        headers = {**headers, **signed_headers(self.signing_secret, body), "User-Agent": USER_AGENT}
        started = time.monotonic()
        try:
            async with self.session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.ack_timeout),
            ) as resp:
                delivery.status = resp.status
                delivery.body = await resp.text()
                delivery.acked = 200 <= resp.status < 300
                if not delivery.acked:
                    delivery.error = "http_error"
        except TimeoutError:
            delivery.error = "timeout"
        except aiohttp.ClientError as exc:
            delivery.error = f"connection_error: {exc}"
        delivery.elapsed = time.monotonic() - started
