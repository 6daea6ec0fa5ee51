"""The Socket Mode side: one-use ``ws://`` URLs, ``hello``, envelopes and their acks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .payloads import disconnect_frame, hello_frame


@dataclass
class Ack:
    """What the bot sent back for an envelope (``payload`` for slash command responses)."""

    envelope_id: str
    payload: dict[str, Any] | None
    received_at: float


class SocketModeServer:
    """Accepts Socket Mode clients and pushes envelopes to them, round-robin like Slack."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.base_ws_url = ""
        self.connections: list[web.WebSocketResponse] = []
        self.acks: dict[str, Ack] = {}
        self.acked_envelope_ids: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.unexpected_frames: list[str] = []
        self._tickets: set[str] = set()
        self._waiters: dict[str, asyncio.Future[Ack]] = {}
        self._next = 0
        self._gone: dict[web.WebSocketResponse, asyncio.Event] = {}

    def issue_url(self) -> str:
        """apps.connections.open: a fresh ticket, valid for a single connection."""
        ticket = secrets.token_hex(16)
        self._tickets.add(ticket)
        return f"{self.base_ws_url}/link/?ticket={ticket}&app_id={self.app_id}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections.append(ws)
        gone = self._gone[ws] = asyncio.Event()
        try:
            await ws.send_json(hello_frame(self.app_id, len(self.connections)))
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._on_text(frame.data)
                elif frame.type == WSMsgType.ERROR:
                    break
        finally:
            if ws in self.connections:
                self.connections.remove(ws)
            gone.set()
            self._gone.pop(ws, None)
        return ws

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            self.unexpected_frames.append(data)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not envelope_id:
            self.unexpected_frames.append(data)
            return
        ack = Ack(envelope_id, message.get("payload"), time.time())
        self.acks[envelope_id] = ack
        self.acked_envelope_ids.append(envelope_id)
        waiter = self._waiters.pop(envelope_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(ack)

    @property
    def connected(self) -> bool:
        return any(not ws.closed for ws in self.connections)

    async def send(self, envelope: dict[str, Any], ack_timeout: float) -> Ack | None:
        """Push one envelope and wait (up to ``ack_timeout``) for its ack; None if none came."""
        live = [ws for ws in self.connections if not ws.closed]
        if not live:
            raise RuntimeError("no Socket Mode connection")
        ws = live[self._next % len(live)]
        self._next += 1
        waiter: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._waiters[envelope["envelope_id"]] = waiter
        self.sent.append(envelope)
        await ws.send_str(json.dumps(envelope))
        try:
            return await asyncio.wait_for(waiter, ack_timeout)
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(envelope["envelope_id"], None)

    async def disconnect_all(self, reason: str = "refresh_requested", grace: float = 1.0) -> None:
        """Ask every client to reconnect (Slack does this every few hours), then drop it.

        Slack warns before closing; clients reconnect on the warning, so the old socket is
        closed only after ``grace`` seconds if the client has not closed it already.
        """
        old = list(self.connections)
        for ws in old:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(disconnect_frame(reason))
        waits = [self._gone[ws].wait() for ws in old if ws in self._gone]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), grace)
        for ws in old:
            await ws.close()

    async def close(self) -> None:
        for ws in list(self.connections):
            await ws.close()
        self.connections.clear()
