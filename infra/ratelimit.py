"""Per-key request limits in Redis, exact across API processes (the `limits` library's
moving window: one Lua call checks and counts atomically)."""

from __future__ import annotations

import math
import time
from typing import NamedTuple

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from infra.redis_client import reconnecting


class Verdict(NamedTuple):
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # 0 when allowed


class RateLimits:
    """`check(key_id, rule)`: count one request of a key against a rule like "20/second"."""

    def __init__(self, redis_url: str, prefix: str = "") -> None:
        self._storage = RedisStorage(redis_url.replace("redis://", "async+redis://", 1),
                                     implementation="redispy", key_prefix=f"{prefix}ratelimit",
                                     **reconnecting())
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._rules: dict[str, RateLimitItem] = {}

    def _rule(self, rule: str) -> RateLimitItem:
        item = self._rules.get(rule)
        if item is None:
            item = self._rules[rule] = parse(rule)
        return item

    async def check(self, key_id: str, rule: str) -> Verdict:
        item = self._rule(rule)
        if await self._limiter.hit(item, key_id):
            return Verdict(True, item.amount, 0, 0)
        stats = await self._limiter.get_window_stats(item, key_id)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        return Verdict(False, item.amount, stats.remaining, wait)
