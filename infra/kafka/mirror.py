"""Every partition of a compacted topic, read by every worker: a table each worker sees whole.

A Faust table partition lives on the worker that owns it, so a key another worker wrote is
invisible here until a rebalance. A table that every worker must read whole (the dedupe
originals: any worker may score a lead whose original another worker saw) is mirrored:
each worker also reads the table's changelog, all partitions, outside any consumer group,
and applies each record in log order. All records of a key sit in one partition, so every
worker ends with the same value per key, the last one written, whoever wrote it. Contract:

- `TopicMirror(bootstrap, topic, apply)` does no I/O; `start()` assigns every partition of
  `topic` from its beginning (the topic must exist), `start(since_ms)` from the first
  record written at or after that time (a topic read for a window, not whole).
- `catch_up()` returns once every record the topic held when it was called is applied.
- `refresh()` applies whatever has arrived and never waits for more: call it before each
  batch. A record written by another worker is applied within about one of its batches
  plus one fetch (`fetch.wait.max.ms`).
- `apply(key, value)` gets the record's raw key and value (None: a tombstone).
- A worker's own records come back too and are applied again: the same value, in the
  same order, so its copy can only lag its own writes by one refresh, never diverge.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

log = logging.getLogger(__name__)

Apply = Callable[[bytes, "bytes | None"], None]

REFRESH_MAX = 10_000  # records applied per refresh: a backlog must not stall the loop
CATCH_UP_PAUSE = 0.02  # seconds between refreshes while catching up


class TopicMirror:
    def __init__(self, bootstrap: str, topic: str, apply: Apply, *,
                 client_id: str = "aiqleads-mirror") -> None:
        self.topic = topic
        self.apply = apply
        self.applied = 0
        self._config = {
            "bootstrap.servers": bootstrap,
            # librdkafka wants a group id even for assign(); nothing is ever committed to it.
            "group.id": f"{client_id}-{uuid.uuid4().hex[:12]}",
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "fetch.wait.max.ms": 20,
            "logger": logging.getLogger("librdkafka"),
        }
        self._consumer: Consumer | None = None
        self._partitions: list[int] = []
        self._first: dict[int, int] = {}  # partition → first offset read, when not the log's

    def start(self, since_ms: int | None = None) -> None:
        consumer = Consumer(self._config)
        metadata = consumer.list_topics(self.topic, timeout=30)
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            consumer.close()
            why = topic.error if topic is not None else "no such topic"
            raise RuntimeError(f"cannot mirror {self.topic}: {why}")
        self._partitions = sorted(topic.partitions)
        if since_ms is None:
            start = [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self._partitions]
        else:
            start = consumer.offsets_for_times(
                [TopicPartition(self.topic, p, since_ms) for p in self._partitions], timeout=30)
            for tp in start:
                if tp.offset < 0:  # nothing written since: start at the end
                    tp.offset = consumer.get_watermark_offsets(tp, timeout=10)[1]
                self._first[tp.partition] = tp.offset
        consumer.assign(start)
        self._consumer = consumer

    def refresh(self) -> int:
        """Apply the records that have arrived (up to `REFRESH_MAX`); how many."""
        consumer = self._consumer
        if consumer is None:
            return 0
        applied = 0
        apply = self.apply
        for message in consumer.consume(REFRESH_MAX, timeout=0):
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("mirror of %s: %s", self.topic, error)
                continue
            key = message.key()
            if key is not None:
                apply(key, message.value())
                applied += 1
        self.applied += applied
        return applied

    async def catch_up(self) -> int:
        """Apply everything the topic holds now; how many records that took."""
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("start() the mirror first")
        ends: dict[int, int] = {}
        for p in self._partitions:
            low, high = await asyncio.to_thread(consumer.get_watermark_offsets,
                                                TopicPartition(self.topic, p), 10)
            # An empty partition (or one retention emptied, or nothing since `since_ms`) has
            # nothing to read, and its position stays unset.
            if high > max(low, self._first.get(p, low)):
                ends[p] = high
        before = self.applied
        while ends:
            self.refresh()
            # A position below 0 means nothing read yet.
            for tp in consumer.position([TopicPartition(self.topic, p) for p in ends]):
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
            if ends:
                await asyncio.sleep(CATCH_UP_PAUSE)
        log.info("mirrored %d records of %s", self.applied - before, self.topic)
        return self.applied - before

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
