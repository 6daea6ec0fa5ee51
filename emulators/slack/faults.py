"""Scripted failures: make the next N calls of a method answer an error."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ApiError


@dataclass
class Injection:
    """A pending scripted failure; ``remaining`` counts down per matching call."""

    method: str
    error: str
    status: int
    retry_after: int | None
    remaining: int

    def to_error(self) -> ApiError:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        return ApiError(self.error, status=self.status, headers=headers)


class FaultInjector:
    """FIFO of injections; the oldest live one for a method fires first."""

    def __init__(self) -> None:
        self._pending: list[Injection] = []

    def add(
        self,
        method: str,
        error: str,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> Injection:
        """Real Slack sends ``ratelimited`` as HTTP 429 with Retry-After, so that is the default."""
        if status is None:
            status = 429 if error == "ratelimited" else 200
        if status == 429 and retry_after is None:
            retry_after = 1
        injection = Injection(method, error, status, retry_after, times)
        self._pending.append(injection)
        return injection

    def take(self, method: str) -> ApiError | None:
        for injection in self._pending:
            if injection.method == method and injection.remaining > 0:
                injection.remaining -= 1
                if injection.remaining == 0:
                    self._pending.remove(injection)
                return injection.to_error()
        return None

    def clear(self) -> None:
        self._pending.clear()
