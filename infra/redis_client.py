"""The API's Redis connections: a pooled connection that died with a Redis restart is
retried on a fresh one instead of failing the request (every marketplace script and rate
limit call is safe to run again); Redis really down still fails fast, as a 503."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def reconnecting() -> dict[str, Any]:
    """Client options: three retries within about half a second."""
    return {"retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError]}


def connect(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, **reconnecting())
