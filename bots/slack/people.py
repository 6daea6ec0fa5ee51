"""Speakers' display names from ``users.info``, cached: every group turn names its speaker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.api import call, error_code

log = logging.getLogger(__name__)

CACHE_SIZE = 10_000  # people remembered at once; the least recently used go first


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    is_admin: bool = False
    locale: str = ""  # e.g. "zh-CN"; "" when Slack did not say


class People:
    """``users.info`` is Tier 4 but called per message otherwise; an hour-long cache is plenty."""

    def __init__(
        self,
        client: AsyncWebClient,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._cache: TTLCache[str, Person] = TTLCache(CACHE_SIZE, ttl, timer=clock)

    async def get(self, user_id: str) -> Person:
        cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        try:
            response = await call(
                lambda _: self._client.users_info(user=user_id, include_locale=True), attempts=3
            )
        except SlackApiError as error:
            log.warning("users.info failed for %s: %s", user_id, error_code(error))
            return Person(user_id, user_id)
        person = _person(user_id, response.get("user") or {})
        self._cache[user_id] = person
        return person


def _person(user_id: str, user: dict) -> Person:
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name")
        or profile.get("real_name")
        or user.get("real_name")
        or user.get("name")
        or user_id
    )
    admin = bool(user.get("is_admin") or user.get("is_owner"))
    return Person(user_id, str(name), admin, str(user.get("locale") or ""))
