"""``POST /v1/chat/completions``: record, apply faults, validate, refuse, rate-limit, then answer.

Order matters and mirrors what a client observes: authentication (middleware) first, then an
injected fault (so a test's fault hits the very next request), then the real API's validation,
the account's balance and daily tokens, and the per-minute limits. A scripted reply is consumed
only by a request that is actually answered; every answered request is billed and counted.
"""

from __future__ import annotations

import json
from dataclasses import replace

from aiohttp import web

from core.catalog import ModelSpec
from emulators.moonshot import errors, websearch
from emulators.moonshot.answers import last_user_text
from emulators.moonshot.billing import answer_cost
from emulators.moonshot.chat_request import ChatRequest, validate
from emulators.moonshot.completion import (
    Answer,
    build_answer,
    completion_object,
    intended_reply,
    stream_chunks,
)
from emulators.moonshot.partial import DEFAULT_CONTINUATION, Prefix, rest_after
from emulators.moonshot.prefix_cache import prompt_keys
from emulators.moonshot.scripts import Fault, ScriptedReply
from emulators.moonshot.state import EmulatorState
from emulators.moonshot.streaming import StreamPlan, pause, write_stream

STREAM_FAULTS = frozenset({"drop_stream", "stall_stream", "slow_tokens"})
FAULT_TPD = 1_500_000  # the TPD quoted by a tpd_limit fault when the catalog names none (Tier0's)
NO_PREFIX = Prefix(content="", reasoning="")


class ChatApi:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat/completions", self.completions)]

    async def completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return errors.invalid_request("the body is not valid JSON")
        self.state.record_request(body)
        fault = self.state.take_fault()
        if fault is not None and fault.kind not in STREAM_FAULTS:
            return self._fault_response(fault, body)
        checked = validate(body, self.state.served_catalog, self.state.files)
        if isinstance(checked, web.Response):
            return checked
        try:
            search_tokens = websearch.returned_search_tokens(checked.messages, self.state.searches)
        except websearch.SearchMismatch as exc:
            return errors.invalid_request(str(exc))
        refusal = self._account_refusal(checked, search_tokens or 0)
        if refusal is not None:
            self.state.rate_limited_count += 1
            return refusal
        limited = self.state.enforce_limits
        if limited:
            spec = checked.spec
            rejection = self.state.limiter.acquire(
                spec.id,
                spec.rpm,
                spec.tpm,
                spec.concurrency,
                checked.prompt_tokens + checked.max_tokens,
            )
            if rejection is not None:
                self.state.rate_limited_count += 1
                return errors.rate_limited(rejection.what, rejection.wait_seconds)
        try:
            checked = self._with_cache(request, checked)
            answer = self._answer(checked, search_tokens)
            self._bill(checked, answer)
            if checked.stream:
                chunks = stream_chunks(answer, checked.model, checked.include_usage)
                return await write_stream(request, chunks, self._plan(fault), self.state.closing)
            return await self._plain(request, checked, answer, fault)
        finally:
            if limited:
                self.state.limiter.release(checked.model)

    def _with_cache(self, request: web.Request, checked: ChatRequest) -> ChatRequest:
        """The request with the prompt tokens Moonshot's automatic prefix cache serves
        (prefix_cache.py); the account is the API key."""
        account = request.headers.get("Authorization", "").partition(" ")[2].strip()
        keys = prompt_keys(
            checked.model, checked.body.get("tools"), checked.messages, self.state.files
        )
        cached = self.state.prefix_cache.use(account, keys)
        return replace(checked, cached_tokens=cached) if cached else checked

    def _account_refusal(self, request: ChatRequest, search_tokens: int) -> web.Response | None:
        """An empty balance, or the model's tokens for today spent (limits on)."""
        if self.state.quota_enforced and self.state.balance.exhausted:
            return errors.insufficient_balance()
        if self.state.enforce_limits:
            what = self.state.daily.check(
                request.model, request.spec.tpd, request.prompt_tokens + search_tokens
            )
            if what is not None:
                return errors.rate_limited(what, None)
        return None

    def _bill(self, request: ChatRequest, answer: Answer) -> None:
        """An answered request counts toward today's tokens and costs the balance."""
        usage = answer.usage
        self.state.daily.add(request.model, usage["prompt_tokens"] + usage["completion_tokens"])
        cost = answer_cost(self.state.catalog, request.model, usage, answer.tool_calls)
        self.state.balance.charge(cost)

    def _answer(self, request: ChatRequest, search_tokens: int | None) -> Answer:
        if request.partial is not None:
            return self._continue(request, request.partial)
        demo = self.state.demo
        reply = self.state.take_reply()
        if search_tokens is not None:
            if reply is None:
                reply = ScriptedReply(text=websearch.search_answer(request.messages))
            return self._fitted(request, intended_reply(request, reply, demo=demo), search_tokens)
        if (
            reply is None
            and request.declares_tool(websearch.TOOL_NAME)
            and websearch.wants_search(request.messages)
        ):
            call = websearch.issue(
                self.state.searches,
                self.state.search_count,
                last_user_text(request.messages),
            )
            self.state.search_count += 1
            reply = ScriptedReply(
                tool_calls=[
                    {"id": call.id, "name": websearch.TOOL_NAME, "arguments": call.arguments}
                ]
            )
        return self._fitted(request, intended_reply(request, reply, demo=demo))

    def _continue(self, request: ChatRequest, prefix: Prefix) -> Answer:
        """Partial Mode: the rest of a remembered answer, or of the (deterministic) default
        answer; for a prefix of neither, the next scripted reply or a fixed continuation."""
        rest = self.state.continuations.find(prefix)
        if rest is None:
            default = intended_reply(request, None, demo=self.state.demo)
            rest = rest_after(prefix, default.reasoning or "", default.text)
        if rest is not None:
            reply = ScriptedReply(text=rest.content, reasoning=rest.reasoning)
        else:
            reply = self.state.take_reply() or ScriptedReply(text=DEFAULT_CONTINUATION)
        return self._fitted(request, reply, prefix=prefix)

    def _fitted(
        self,
        request: ChatRequest,
        reply: ScriptedReply,
        extra_prompt_tokens: int = 0,
        prefix: Prefix = NO_PREFIX,
    ) -> Answer:
        """The answer cut at max_tokens; a cut one is remembered whole so it can be continued."""
        answer = build_answer(request, reply, extra_prompt_tokens)
        if answer.cut:
            self.state.continuations.remember(
                prefix.reasoning + (reply.reasoning or ""), prefix.content + reply.text
            )
        return answer

    def _plan(self, fault: Fault | None) -> StreamPlan:
        delay = self.state.token_delay
        if fault is None:
            return StreamPlan(delay=delay)
        if fault.kind == "drop_stream":
            return StreamPlan(delay=delay, cut_after=fault.after_chunks, abort=fault.abort)
        if fault.kind == "stall_stream":
            return StreamPlan(
                delay=delay, stall_after=fault.after_chunks, stall_seconds=fault.stall_seconds
            )
        return StreamPlan(delay=fault.delay)  # slow_tokens

    async def _plain(
        self, request: web.Request, checked: ChatRequest, answer: Answer, fault: Fault | None
    ) -> web.StreamResponse:
        """Non-stream answer; stream faults still bite: no answer, a late one, or a slow one."""
        if fault is not None and fault.kind == "drop_stream":
            response = web.Response(status=200)
            response.force_close()
            if request.transport is not None:
                request.transport.close()
            return response
        if fault is not None and fault.kind == "stall_stream":
            await pause(self.state.closing, fault.stall_seconds, request)
        elif fault is not None and fault.kind == "slow_tokens":
            pieces = len(stream_chunks(answer, checked.model, False))
            await pause(self.state.closing, fault.delay * pieces, request)
        body = json.dumps(completion_object(answer, checked.model), ensure_ascii=False)
        return web.Response(text=body, content_type="application/json")

    def _fault_response(self, fault: Fault, body: object) -> web.Response:
        kind = fault.kind
        model = body.get("model") if isinstance(body, dict) else None
        spec: ModelSpec | None = (
            self.state.catalog.get(model)
            if isinstance(model, str) and model in self.state.catalog
            else None
        )
        if kind in ("rate_limit", "tpm_limit", "tpd_limit", "overloaded", "quota"):
            self.state.rate_limited_count += 1
        if kind == "rate_limit":
            return errors.rate_limited(f"max RPM: {spec.rpm if spec else 1}", fault.wait_seconds)
        if kind == "tpm_limit":
            tpm = spec.tpm if spec else 1
            return errors.rate_limited(errors.token_limit_what("TPM", tpm + 1, tpm), None)
        if kind == "tpd_limit":
            tpd = spec.tpd if spec and spec.tpd else FAULT_TPD
            return errors.rate_limited(errors.token_limit_what("TPD", tpd + 1, tpd), None)
        if kind == "overloaded":
            return errors.overloaded()
        if kind == "quota":
            return errors.quota_exceeded()
        if kind == "server_error":
            return errors.server_error()
        if kind == "auth":
            return errors.auth_error()
        if kind == "content_filter":
            return errors.content_filter()
        return errors.gateway_timeout()
