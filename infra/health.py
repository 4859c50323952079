"""Reachability of Kafka, Redis and ClickHouse, with the reason when one does not answer.

Blocking calls with short timeouts: callers run them in a thread (`asyncio.to_thread`).
Used by the worker's and the API's `/readyz` and by the API's ops poll; every check sets
`aiq_dependency_up{dependency}` in the calling process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
from clickhouse_driver import Client
from confluent_kafka.admin import AdminClient

from infra.metrics import DEPENDENCY_UP
from infra.settings import Settings
from infra.warehouse.query import result_from_json, worker_query_url
from infra.warehouse.url import parse_url

TIMEOUT = 2.0


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **({"reason": self.reason} if self.reason else {})}


def _record(dependency: str, check: Check) -> Check:
    DEPENDENCY_UP.labels(dependency).set(1 if check.ok else 0)
    return check


def check_kafka(bootstrap: str) -> Check:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(TIMEOUT * 1000)})
    try:
        metadata = admin.list_topics(timeout=TIMEOUT)
    except Exception as exc:
        return _record("kafka", Check(False, f"no broker at {bootstrap}: {exc}"))
    if not metadata.brokers:
        return _record("kafka", Check(False, f"{bootstrap} answered with no brokers"))
    return _record("kafka", Check(True))


def check_redis(url: str) -> Check:
    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        client.ping()
    except Exception as exc:
        return _record("redis", Check(False, f"{_safe(url)}: {exc}"))
    finally:
        client.close()
    return _record("redis", Check(True))


def _safe(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}"


def query(settings: Settings, sql: str, *, timeout: float = 30.0) -> list[tuple[Any, ...]]:
    """Rows of a read-only query, without ever opening the embedded warehouse here:
    the server directly, or the worker's view when the warehouse is embedded (chdb)."""
    target = parse_url(settings.clickhouse_url)
    if isinstance(target, Path):
        response = httpx.post(worker_query_url(settings), content=sql.encode(),
                              timeout=httpx.Timeout(timeout, connect=TIMEOUT))
        return result_from_json(response.json()).rows
    client = Client(host=target.host, port=target.port, user=target.user,
                    password=target.password, database=target.database,
                    connect_timeout=TIMEOUT, send_receive_timeout=timeout)
    try:
        return client.execute(sql)
    finally:
        client.disconnect()


def check_clickhouse(settings: Settings) -> Check:
    target = parse_url(settings.clickhouse_url)
    where = (f"the worker's embedded warehouse ({worker_query_url(settings)})"
             if isinstance(target, Path) else f"{target.host}:{target.port}")
    try:
        query(settings, "SELECT 1", timeout=TIMEOUT)
    except Exception as exc:
        return _record("clickhouse", Check(False, f"{where}: {type(exc).__name__}: {exc}"))
    return _record("clickhouse", Check(True))


def check_all(settings: Settings, *, kafka: bool = True) -> dict[str, Check]:
    checks = {"kafka": check_kafka(settings.kafka_bootstrap)} if kafka else {}
    checks["redis"] = check_redis(settings.redis_url)
    checks["clickhouse"] = check_clickhouse(settings)
    return checks


def kafka_from(error: str | None) -> Check:
    """Kafka's check from a Kafka call just made elsewhere (the lag poll)."""
    return _record("kafka", Check(error is None, error or ""))
