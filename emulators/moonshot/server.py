"""The emulator as an object tests start and stop in-process (or the CLI runs in the foreground)."""

from __future__ import annotations

import socket
from typing import Any

from aiohttp import web

from core.catalog import Catalog, builtin_catalog
from emulators.moonshot.account import AccountApi
from emulators.moonshot.auth import auth_middleware
from emulators.moonshot.chat import ChatApi
from emulators.moonshot.control import ControlApi
from emulators.moonshot.files_api import FilesApi
from emulators.moonshot.filestore import FileStore
from emulators.moonshot.scripts import Fault, ScriptedReply, ScriptedTranscript
from emulators.moonshot.speech import SpeechApi
from emulators.moonshot.state import AUDIO_MAX_BYTES, EmulatorState

MAX_BODY_BYTES = 64 * 1024 * 1024  # long-context chat bodies; uploads are streamed, not bound by it


class MoonshotEmulator:
    """A local stand-in for ``https://api.moonshot.cn/v1`` that the real ``openai`` SDK can use."""

    def __init__(
        self,
        api_key: str = "sk-test",
        catalog: Catalog | None = None,
        enforce_limits: bool = True,
        token_delay: float = 0.0,
        max_files: int = 1000,
        max_file_bytes: int = 100 * 1024 * 1024,
        accept_any_key: bool = False,
        access_log: bool = False,
        demo: bool = False,
        keep_requests: int | None = None,
        served_models: list[str] | None = None,
        max_audio_bytes: int = AUDIO_MAX_BYTES,
    ) -> None:
        self.state = EmulatorState(
            api_key=api_key,
            accept_any_key=accept_any_key,
            catalog=catalog or builtin_catalog(),
            enforce_limits=enforce_limits,
            token_delay=token_delay,
            files=FileStore(max_files=max_files, max_file_bytes=max_file_bytes),
            demo=demo,
            keep_requests=keep_requests,
            served_models=served_models,
            max_audio_bytes=max_audio_bytes,
        )
        self._access_log = access_log
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port = 0

    # -- lifecycle -------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(
            middlewares=[auth_middleware(self.state)], client_max_size=MAX_BODY_BYTES
        )
        for api in (
            ChatApi(self.state),
            FilesApi(self.state.files),
            AccountApi(self.state),
            ControlApi(self.state),
            SpeechApi(self.state),
        ):
            app.add_routes(api.routes())
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 picks a free port); returns :attr:`base_url`."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self.state.closing.clear()
        kwargs: dict[str, Any] = {} if self._access_log else {"access_log": None}
        runner = web.AppRunner(self.make_app(), shutdown_timeout=2.0, **kwargs)
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self._host = host
        self._port = sock.getsockname()[1]
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; stalled or slow streams are woken so shutdown takes no time."""
        if self._runner is None:
            return
        self.state.closing.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> MoonshotEmulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        await self.stop()

    # -- what tests read and script ---------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("the emulator is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}/v1"

    @property
    def catalog(self) -> Catalog:
        return self.state.catalog

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Chat-completion request bodies received (after authentication), oldest first."""
        return self.state.requests

    @property
    def rate_limited_count(self) -> int:
        """Every 429 answered: limit hits and injected rate_limit/overloaded/quota faults."""
        return self.state.rate_limited_count

    @property
    def files(self) -> FileStore:
        return self.state.files

    def enqueue(self, reply: ScriptedReply) -> None:
        """Queue the answer for the next answered chat-completion request."""
        self.state.replies.append(reply)

    def inject(self, fault: Fault) -> None:
        """Queue a fault; faults apply in injection order, each to its next ``times`` requests
        (``stt_*`` kinds to transcription requests, the others to chat requests)."""
        self.state.faults.append(fault)

    def enqueue_transcript(
        self, text: str, duration: float | None = None, language: str | None = None
    ) -> None:
        """Queue the text (and optionally duration/language) of the next answered transcription."""
        self.state.transcripts.append(ScriptedTranscript(text, duration, language))

    @property
    def transcriptions(self) -> list[dict[str, Any]]:
        """Transcription requests received: model, filename, size, response_format, language."""
        return self.state.transcriptions

    @property
    def served_models(self) -> list[str] | None:
        """The model ids ``/v1/models`` lists and chat accepts; None means the whole catalog."""
        return self.state.served_models

    @served_models.setter
    def served_models(self, model_ids: list[str] | None) -> None:
        self.state.serve(model_ids)

    @property
    def balance(self) -> dict[str, float]:
        """What ``GET /v1/users/me/balance`` would show now."""
        return self.state.balance.to_json()

    def set_balance(self, *, cash: float | None = None, voucher: float | None = None) -> None:
        """Set the cash and/or voucher balance; from now on an empty balance gets 429
        ``exceeded_current_quota_error`` even with limits off."""
        self.state.set_balance(cash=cash, voucher=voucher)

    def reset(self) -> None:
        """Clear requests, faults, scripts, files, searches, counters, rate windows, remembered
        continuations, today's tokens, scripted transcripts and transcription records; the
        balance and served models go back to the start."""
        self.state.reset()

    def stats(self) -> dict[str, Any]:
        return self.state.stats()
