"""The bench counts the Kafka records each of a run's topics holds, and only its own."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from infra.demo.usage import records_by_topic
from infra.kafka.admin import delete_prefixed_topics
from infra.settings import Settings

pytestmark = pytest.mark.integration


def test_records_by_topic_counts_every_partition_of_the_runs_topics() -> None:
    run = Settings(topic_prefix=f"usage{uuid.uuid4().hex[:8]}.")
    other = run.model_copy(update={"topic_prefix": run.topic_prefix[:-1] + "x."})
    bootstrap, prefix = run.kafka_bootstrap, run.topic_prefix
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = {f"{prefix}a": 2, f"{prefix}b": 1, f"{other.topic_prefix}a": 1}
    for future in admin.create_topics([NewTopic(name, partitions) for name, partitions
                                       in names.items()]).values():
        future.result(timeout=30)
    try:
        producer = Producer({"bootstrap.servers": bootstrap})
        for partition in (0, 1, 1):
            producer.produce(f"{prefix}a", b"x", partition=partition)
        producer.produce(f"{other.topic_prefix}a", b"x")
        assert producer.flush(30) == 0
        assert records_by_topic(bootstrap, prefix) == {"a": 3, "b": 0}
    finally:
        delete_prefixed_topics(run)
        delete_prefixed_topics(other)
