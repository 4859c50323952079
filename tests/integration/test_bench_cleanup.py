"""A bench run leaves nothing behind in the shared stack: topics, Redis keys, database."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from clickhouse_driver import Client
from confluent_kafka.admin import AdminClient

from infra.demo.bench import forget_run
from infra.kafka.admin import delete_prefixed_topics, ensure_topics
from infra.warehouse.url import ServerUrl, parse_url
from tests.integration.conftest import unique_database
from tests.integration.harness import SCAN_COUNT, own_settings, wait_until

pytestmark = pytest.mark.integration


def test_a_run_forgets_its_topics_keys_and_database_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_url: str
) -> None:
    target = parse_url(server_url)
    assert isinstance(target, ServerUrl)
    database = unique_database()
    url = f"clickhouse://{target.user}:{target.password}@{target.host}:{target.port}/{database}"
    run = own_settings(tmp_path, monkeypatch, "b", clickhouse_url=url)
    # Another run whose prefix starts like this one's: only the dot ends a prefix.
    other = run.model_copy(update={"topic_prefix": run.topic_prefix[:-1] + "x."})
    clickhouse = Client(host=target.host, port=target.port, user=target.user,
                        password=target.password)
    keys = redis.Redis.from_url(run.redis_url)
    try:
        ensure_topics(run)
        ensure_topics(other)
        clickhouse.execute(f"CREATE DATABASE `{database}`")
        keys.mset({f"{run.topic_prefix}lead:{i}": "x" for i in range(2_500)})
        keys.set(f"{other.topic_prefix}lead:1", "kept")

        forget_run(run)

        admin = AdminClient({"bootstrap.servers": run.kafka_bootstrap})

        def names(prefix: str) -> list[str]:
            return [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]

        # The broker deletes in the background: metadata may list a topic a moment longer.
        assert wait_until(lambda: not names(run.topic_prefix), timeout=30)
        assert names(other.topic_prefix)
        assert not list(keys.scan_iter(match=f"{run.topic_prefix}*", count=SCAN_COUNT))
        assert keys.get(f"{other.topic_prefix}lead:1") == b"kept"
        assert (database,) not in clickhouse.execute("SHOW DATABASES")
    finally:
        delete_prefixed_topics(other)
        keys.delete(f"{other.topic_prefix}lead:1")
        keys.close()
        clickhouse.execute(f"DROP DATABASE IF EXISTS `{database}`")
