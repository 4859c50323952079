"""`agents.table_store` on the real broker: a table's changelog read in bulk, in log order,
overwrites and tombstones included, decoded as Faust decodes it; Faust's own recovery
takes over when the broker does not answer."""

from __future__ import annotations

import logging
import uuid

import faust
import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from faust.types import TP

from agents import table_store
from infra.settings import Settings
from infra.stack.ports import free_port

pytestmark = pytest.mark.integration


def _app(bootstrap: str) -> tuple[faust.App, faust.Table]:
    table_store.register()
    app = faust.App(f"t{uuid.uuid4().hex[:10]}.store", broker=f"kafka://{bootstrap}",
                    store=f"{table_store.SCHEME}://")
    return app, app.Table("things", key_type=str, partitions=4)


def test_a_changelog_is_read_in_bulk_into_the_store_faust_recovers_on() -> None:
    bootstrap = Settings().kafka_bootstrap
    app, table = _app(bootstrap)
    topic = table.changelog_topic.get_topic_name()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result()
    # Idempotent: a retried batch must not land after later ones (the log order is the test's).
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    failed: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failed.append(str(err))

    for i in range(3_000):  # partition 3 stays empty
        key = f"k{i % 90}"
        producer.produce(topic, orjson.dumps({"n": i, "cells": [key]}), orjson.dumps(key),
                         partition=i % 90 % 3, on_delivery=delivered)
    producer.produce(topic, None, orjson.dumps("k7"), partition=7 % 3,  # k7 deleted
                     on_delivery=delivered)
    assert producer.flush(30) == 0 and not failed, failed[:3]
    try:
        actives = {TP(topic, p) for p in range(4)} | {TP("some-input-topic", 0)}
        table_store.preload(app, app.tables, actives)
        store = table.data
        assert isinstance(store, table_store.Store)
        # Each partition read to its end; Faust reads on after the last offset applied.
        assert store.loaded == {TP(topic, 0): 999, TP(topic, 1): 1_000, TP(topic, 2): 999}
        # The last record of each key, as the log has it; values as Faust's JSON codec gives.
        last = {f"k{i % 90}": i for i in range(3_000)}
        assert store.data == {key: {"n": n, "cells": [key]} for key, n in last.items()
                              if key != "k7"}
        # Asked once a rebalance: a second question is Faust's to answer from the start.
        assert store.persisted_offset(TP(topic, 1)) == 1_000
        assert store.persisted_offset(TP(topic, 1)) is None
        assert store.persisted_offset(TP(topic, 3)) is None  # empty: Faust reads it
    finally:
        admin.delete_topics([topic])


def test_a_broker_that_does_not_answer_leaves_recovery_to_faust(
        caplog: pytest.LogCaptureFixture) -> None:
    app, table = _app(f"127.0.0.1:{free_port()}")
    topic = table.changelog_topic.get_topic_name()
    table.data.loaded[TP(topic, 0)] = 41  # from an earlier rebalance: no answer any more
    with caplog.at_level(logging.WARNING, logger=table_store.__name__):
        table_store.preload(app, app.tables, {TP(topic, 0)}, timeout=2.0)
    assert "Faust recovers them" in caplog.text
    assert table.data.persisted_offset(TP(topic, 0)) is None
