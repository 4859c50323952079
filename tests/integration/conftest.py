"""Warehouse fixtures for integration tests, both backends, each test in its own database.

- `server_url`: the ClickHouse server under test, from `AIQ_TEST_CLICKHOUSE_URL`
  (default `clickhouse://default:@127.0.0.1:9000/aiqleads`; only host, port and
  credentials are used, every test gets a fresh `aiqleads_t<hex>` database).
- `server_warehouse`: a started `ServerWarehouse` in a fresh database, dropped afterwards.
  Fails (with the reason) when no server answers at `server_url`.
- `embedded_warehouse`: a started `EmbeddedWarehouse` in a fresh tmp dir. chdb allows one
  path per process at a time, so it is closed after each test; a test that opens chdb on
  another path must close it before the next test starts.
- `warehouse`: parametrised over both (`[server]`, `[embedded]`).
- `_delete_test_topics` and `_delete_test_keys` (the whole session): the topics and Redis
  keys tests created under their random prefixes are deleted at the end, so a `make test`
  against the developer's `aiqleads up` services leaves their Kafka and Redis as it found
  them (a run's workers leave thousands of serving keys; 485,000 of them made every
  append-only-file rewrite of the dev Redis take seconds, which benches then measured).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from infra.settings import Settings
from infra.warehouse.base import Warehouse
from infra.warehouse.embedded import EmbeddedWarehouse
from infra.warehouse.errors import WarehouseUnavailable
from infra.warehouse.query import run_query
from infra.warehouse.server import ServerWarehouse
from infra.warehouse.url import ServerUrl, parse_url
from tests.integration.harness import delete_topics, free_port, topics_named

SERVER_URL_ENV = "AIQ_TEST_CLICKHOUSE_URL"
DEFAULT_SERVER_URL = "clickhouse://default:@127.0.0.1:9000/aiqleads"


# The prefixes tests give their topics: a letter and 8-12 hex digits, or a fixed test name.
TEST_TOPIC = re.compile(r"^(?:[a-z][0-9a-f]{8,12}|t-behaviour)\.")
# Their Redis keys: those prefixes, and the ones a few tests end with ':' or a word.
TEST_KEY = re.compile(rb"^(?:[a-z]{1,5}[0-9a-f]{8,12}|t-behaviour)[.:]")


@pytest.fixture(scope="session", autouse=True)
def _delete_test_topics() -> Iterator[None]:
    bootstrap = Settings().kafka_bootstrap
    try:
        before = set(topics_named(bootstrap, TEST_TOPIC.match))
    except Exception as exc:  # no broker: the tests that need one say so themselves
        logging.getLogger(__name__).warning("no topic cleanup: %s", exc)
        yield
        return
    yield
    created = [name for name in topics_named(bootstrap, TEST_TOPIC.match) if name not in before]
    for start in range(0, len(created), 200):
        try:
            delete_topics(bootstrap, created[start:start + 200])
        except Exception as exc:  # housekeeping: never the reason a run fails
            logging.getLogger(__name__).warning("test topics left on the broker: %s", exc)


def keys_of_tests(client: redis.Redis) -> set[bytes]:
    return {key for key in client.scan_iter(count=10_000) if TEST_KEY.match(key)}


@pytest.fixture(scope="session", autouse=True)
def _delete_test_keys() -> Iterator[None]:
    client = redis.Redis.from_url(Settings().redis_url)
    try:
        before = keys_of_tests(client)
    except redis.RedisError as exc:  # no Redis: the tests that need one say so themselves
        logging.getLogger(__name__).warning("no Redis key cleanup: %s", exc)
        client.close()
        yield
        return
    yield
    try:
        created = list(keys_of_tests(client) - before)  # keys there before stay
        for start in range(0, len(created), 1000):
            client.unlink(*created[start:start + 1000])
    except redis.RedisError as exc:  # housekeeping: never the reason a run fails
        logging.getLogger(__name__).warning("test keys left in Redis: %s", exc)
    finally:
        client.close()


@pytest.fixture(scope="session")
def server_url() -> str:
    return os.environ.get(SERVER_URL_ENV, DEFAULT_SERVER_URL)


def unique_database() -> str:
    return f"aiqleads_t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def server_warehouse(server_url: str) -> Iterator[ServerWarehouse]:
    target = parse_url(server_url)
    assert isinstance(target, ServerUrl), f"{SERVER_URL_ENV} is not a clickhouse:// URL"
    warehouse = ServerWarehouse(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password,
        database=unique_database(),
    )
    try:
        warehouse.start()
    except WarehouseUnavailable as exc:
        # `make test` starts the server; a missing one is a broken setup, not a reason to skip.
        pytest.fail(f"no ClickHouse server ({exc}); set {SERVER_URL_ENV} or run `aiqleads up`")
    try:
        yield warehouse
    finally:
        warehouse.query(f"DROP DATABASE IF EXISTS `{warehouse.database}`")
        warehouse.close()


@pytest.fixture
def embedded_warehouse(tmp_path: Path) -> Iterator[EmbeddedWarehouse]:
    warehouse = EmbeddedWarehouse(tmp_path / "warehouse")
    warehouse.start()
    try:
        yield warehouse
    finally:
        warehouse.close()


@pytest.fixture(params=["server", "embedded"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    return request.getfixturevalue(f"{request.param}_warehouse")


@pytest.fixture(params=["embedded", "server"])
def worker_settings(
    request: pytest.FixtureRequest, tmp_path: Path, server_url: str
) -> Iterator[Settings]:
    """Settings for a worker subprocess on either warehouse backend, in isolation."""
    run = uuid.uuid4().hex[:10]
    if request.param == "server":
        target = parse_url(server_url)
        assert isinstance(target, ServerUrl)
        url = (f"clickhouse://{target.user}:{target.password}@{target.host}:{target.port}"
               f"/aiqleads_t{run}")
    else:
        url = f"chdb://{tmp_path / 'warehouse'}"
    settings = Settings(
        clickhouse_url=url,
        state_dir=tmp_path / "state",
        topic_prefix=f"t{run}.",
        worker_web_port=free_port(),
        land_batch_seconds=0.2,
    )
    yield settings
    if request.param == "server":
        run_query(settings.model_copy(update={"clickhouse_url": server_url}),
                  f"DROP DATABASE IF EXISTS aiqleads_t{run}")
