"""`BatchConsumer` on the real broker: batches, commits, and resuming another group's offsets."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from infra.kafka.batch import BatchConsumer
from infra.settings import Settings

pytestmark = pytest.mark.integration


def make_topic(bootstrap: str, messages: int) -> str:
    topic = f"t{uuid.uuid4().hex[:10]}.raw"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(messages):
        producer.produce(topic, str(i).encode(), key=str(i).encode())
    assert producer.flush(30) == 0
    return topic


async def read_all(consumer: BatchConsumer, expected: int) -> list[int]:
    seen: list[int] = []
    for _ in range(200):
        seen += [m.offset() for m in await consumer.poll()]
        if len(seen) >= expected:
            break
    return seen


def test_a_new_group_resumes_where_the_previous_group_committed() -> None:
    bootstrap = Settings().kafka_bootstrap
    topic = make_topic(bootstrap, 10)
    previous = f"g{uuid.uuid4().hex[:8]}"
    committer = Consumer({"bootstrap.servers": bootstrap, "group.id": previous})
    committer.commit(offsets=[TopicPartition(topic, 0, 6)], asynchronous=False)
    committer.close()

    async def scenario() -> None:
        consumer = BatchConsumer(bootstrap, f"{previous}-ingest", [topic], resume_from=previous)
        consumer.start()
        try:
            offsets = await read_all(consumer, 4)
            assert offsets == [6, 7, 8, 9]  # not from the beginning of the log
            await consumer.commit({(topic, 0): 10})
        finally:
            consumer.close()
        again = BatchConsumer(bootstrap, f"{previous}-ingest", [topic], resume_from=previous)
        again.start()
        try:  # its own commit wins over the previous group's from now on
            assert await read_all(again, 1) == []
        finally:
            again.close()

    asyncio.run(scenario())


def test_without_a_commit_a_batch_is_read_again() -> None:
    bootstrap = Settings().kafka_bootstrap
    topic = make_topic(bootstrap, 5)
    group = f"g{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        first = BatchConsumer(bootstrap, group, [topic])
        first.start()
        try:
            assert await read_all(first, 5) == [0, 1, 2, 3, 4]
            await first.commit({(topic, 0): 3})  # the first three stored, the rest not
        finally:
            first.close()
        second = BatchConsumer(bootstrap, group, [topic])
        second.start()
        try:
            assert await read_all(second, 2) == [3, 4]
        finally:
            second.close()

    asyncio.run(scenario())
