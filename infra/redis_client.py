"""Redis clients for the worker and the API.

`connect(url)` (the API's): a pooled connection that died with a Redis restart is retried on
a fresh one instead of failing the request (every marketplace script and rate limit call is
safe to run again); Redis really down still fails fast, as a 503. `connect(url,
reconnect=False)`: no command retries (blocking reads, the worker's own backoff).

Both pack commands with hiredis: redis-py's asyncio connection packs every argument in
Python, even with hiredis installed (only its sync client uses hiredis's packer). A lead's
placement is one EVALSHA of 20-60 keys and arguments: its client CPU was 81-91 µs with
redis-py's Python packer and parser, 37-49 µs with hiredis's (BENCHMARKS "Serving into
Redis").
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError
from redis.exceptions import TimeoutError as RedisTimeoutError


def reconnecting() -> dict[str, Any]:
    """Client options: three retries within about half a second."""
    return {"retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError]}


class HiredisPacking(aioredis.Connection):
    """An asyncio connection that packs commands in C, as redis-py's sync client does."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # As redis-py: a command name given with its subcommand ("CONFIG GET") is split.
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:  # what redis-py raises for an argument it cannot send
            raise DataError(str(exc)) from exc


def connect(url: str, *, reconnect: bool = True) -> aioredis.Redis:
    """A client of `url`; plain `redis://` connections pack with hiredis (TLS and unix
    sockets keep redis-py's classes, which their URLs select)."""
    options = reconnecting() if reconnect else {}
    return aioredis.Redis.from_url(url, connection_class=HiredisPacking, **options)
