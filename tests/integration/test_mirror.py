"""`TopicMirror` on the real broker: every partition, in log order, tombstones included."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from infra.kafka.mirror import TopicMirror
from infra.settings import Settings
from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration


def test_a_mirror_catches_up_on_every_partition_then_follows_new_records() -> None:
    bootstrap = Settings().kafka_bootstrap
    topic = f"t{uuid.uuid4().hex[:10]}.mirrored-changelog"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result()
    # Idempotent: a retried batch must not land after later ones (the log order is the test's).
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(200):
        producer.produce(topic, f"v{i}".encode(), f"k{i % 50}".encode())
    producer.produce(topic, None, b"k7")  # a tombstone after k7's last value
    assert producer.flush(30) == 0
    copy: dict[bytes, bytes | None] = {}
    mirror = TopicMirror(bootstrap, topic, copy.__setitem__)
    mirror.start()
    try:
        assert asyncio.run(mirror.catch_up()) == 201
        # The last record of each key, as Kafka's log order per key has it.
        assert copy == {f"k{k}".encode(): (None if k == 7 else f"v{150 + k}".encode())
                        for k in range(50)}
        producer.produce(topic, b"later", b"k3")
        assert producer.flush(30) == 0
        assert wait_until(lambda: mirror.refresh() >= 0 and copy[b"k3"] == b"later", timeout=20)
    finally:
        mirror.close()
        admin.delete_topics([topic])


def test_a_mirror_from_a_time_reads_what_was_written_since_and_waits_on_quiet_partitions(
) -> None:
    bootstrap = Settings().kafka_bootstrap
    topic = f"t{uuid.uuid4().hex[:10]}.sightings"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result()
    # Idempotent: a retried batch must not land after later ones (the log order is the test's).
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    since_ms = 1_700_000_000_000
    for i in range(40):  # partition 3 gets only old records: nothing to read there
        producer.produce(topic, f"v{i}".encode(), b"k", partition=i % 4,
                         timestamp=since_ms + (1000 if i % 4 != 3 and i >= 20 else -1000))
    assert producer.flush(30) == 0
    seen: list[bytes | None] = []
    mirror = TopicMirror(bootstrap, topic, lambda _, value: seen.append(value))
    mirror.start(since_ms)
    try:
        assert asyncio.run(mirror.catch_up()) == 15  # i in 20..39, not on partition 3
        assert sorted(seen) == sorted(f"v{i}".encode() for i in range(20, 40) if i % 4 != 3)
        producer.produce(topic, b"new", b"k", partition=3)
        assert producer.flush(30) == 0
        assert wait_until(lambda: mirror.refresh() >= 0 and b"new" in seen, timeout=20)
    finally:
        mirror.close()
        admin.delete_topics([topic])
