"""The small account endpoints: models (the served ones), token estimate and balance."""

from __future__ import annotations

from aiohttp import web

from emulators.moonshot import errors
from emulators.moonshot.state import EmulatorState
from emulators.moonshot.tokens import estimate_messages
from emulators.moonshot.vision import image_problem

MODELS_CREATED = 1_715_000_000


class AccountApi:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/models", self.models),
            web.post("/v1/tokenizers/estimate-token-count", self.estimate),
            web.get("/v1/users/me/balance", self.balance),
        ]

    async def models(self, request: web.Request) -> web.Response:
        """What the account 'has': every served catalog model, with its context length."""
        data = [
            {
                "id": spec.id,
                "object": "model",
                "created": MODELS_CREATED,
                "owned_by": "moonshot",
                "context_length": spec.context_window,
            }
            for spec in self.state.served_catalog
        ]
        return web.json_response({"object": "list", "data": data})

    async def estimate(self, request: web.Request) -> web.Response:
        """The same estimate the emulator bills with, so clients can calibrate against it; images
        count one token per 14×14 tile whatever the model (a corrupt one is a 400)."""
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return errors.invalid_request("the body is not valid JSON")
        if not isinstance(body, dict):
            return errors.invalid_request("the body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or model not in self.state.served_catalog:
            return errors.not_found(f"Not found the model {model} or Permission denied")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return errors.invalid_request("messages must be a non-empty list")
        objects = [m for m in messages if isinstance(m, dict)]
        problem = image_problem(objects, model, True, self.state.files)
        if problem:
            return errors.invalid_request(problem)
        total = estimate_messages(messages, self.state.files)
        return web.json_response(_ok({"total_tokens": total}))

    async def balance(self, request: web.Request) -> web.Response:
        """What is left after every answered request so far (see billing.py)."""
        return web.json_response(_ok(self.state.balance.to_json()))


def _ok(data: dict[str, object]) -> dict[str, object]:
    return {"code": 0, "data": data, "scode": "0x0", "status": True}
