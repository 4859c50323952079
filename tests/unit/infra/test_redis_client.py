"""The hiredis packer sends exactly the bytes redis-py's own asyncio packer would."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import DataError

from infra.redis_client import HiredisPacking, connect

COMMANDS = [
    ("SET", "lead:1", b"\x00\xffraw", "EX", 60),
    ("EVALSHA", "ab12", 3, "k1", "k2", "rank:buyer:b-é", 0.1, 1e-07, -2.5e300, 123456789.123,
     "naïve", b"", 0, -1, 2**62),
    ("CONFIG GET", "maxmemory"),
    (b"CLIENT SETNAME", b"aiq"),
    ("ZADD", "z", 17.000000000000004, "m"),
]


@pytest.mark.parametrize("args", COMMANDS)
def test_packs_as_redis_py_does(args: tuple) -> None:
    ours = b"".join(HiredisPacking().pack_command(*args))
    theirs = b"".join(aioredis.Connection().pack_command(*args))
    assert ours == theirs


def test_a_value_redis_cannot_take_is_a_data_error() -> None:
    with pytest.raises(DataError):
        HiredisPacking().pack_command("SET", "k", None)


def test_plain_urls_pack_with_hiredis_others_keep_their_class() -> None:
    assert connect("redis://127.0.0.1:6379/0").connection_pool.connection_class is HiredisPacking
    assert connect("unix:///run/redis.sock", reconnect=False).connection_pool.connection_class \
        is aioredis.UnixDomainSocketConnection
