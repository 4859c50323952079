"""Topic partitions read from their first record to their end, in batches, with librdkafka.

For rebuilding state from changelogs at start-up, where Faust's consumer delivers one
record at a time through Python (`agents.table_store`). Contract:

- `read_to_end(bootstrap, partitions, apply)` reads what each (topic, partition) holds when
  it is called (up to its high watermark then), each partition in log order, all of them
  at once through one consumer, and hands the records to `apply(topic, records)` in
  batches. It returns, for each partition that held records, the offset after its last
  one (its high watermark); empty partitions are left out.
- Records written meanwhile are not waited for: the caller reads on from the offsets returned.
- Blocking: run it on a thread. A broker that does not answer, or a partition not read
  to its end, within `timeout` seconds raises `TimeoutError`; a partition error raises
  `KafkaException`. Nothing is ever committed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

BATCH = 10_000  # records a `consume` call returns at most
WAIT = 0.1  # seconds a `consume` call waits to fill its batch: the end is near by then

Partition = tuple[str, int]


def read_to_end(bootstrap: str, partitions: Sequence[Partition],
                apply: Callable[[str, list[Message]], None], *,
                timeout: float = 60.0, client_id: str = "aiqleads-recovery",
                ) -> dict[Partition, int]:
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        # librdkafka wants a group id even for assign(); nothing is ever committed to it.
        "group.id": f"{client_id}-{uuid.uuid4().hex[:12]}",
        "client.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # The ends are known (the high watermarks): no fetch needs to wait for more.
        "fetch.wait.max.ms": 10,
        "enable.partition.eof": True,
        "max.partition.fetch.bytes": 8 << 20,
        "logger": logging.getLogger("librdkafka"),
    })
    try:
        ends: dict[Partition, int] = {}
        start: list[TopicPartition] = []
        for topic, partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                       timeout=timeout)
            if high > low:
                ends[(topic, partition)] = high
                start.append(TopicPartition(topic, partition, low))
        if not start:
            return ends
        consumer.assign(start)
        reading = set(ends)
        deadline = time.monotonic() + timeout
        while reading:
            by_topic: dict[str, list[Message]] = {}
            for message in consumer.consume(BATCH, timeout=WAIT):
                error = message.error()
                at = (message.topic(), message.partition())
                if error is None:
                    by_topic.setdefault(at[0], []).append(message)
                    if message.offset() >= ends[at] - 1:
                        reading.discard(at)
                elif error.code() == KafkaError._PARTITION_EOF:
                    if message.offset() >= ends[at]:  # an end short of the watermark is not it
                        reading.discard(at)
                else:
                    raise KafkaException(error)
            for topic, records in by_topic.items():
                apply(topic, records)
            if reading and time.monotonic() > deadline:
                raise TimeoutError(f"{len(reading)} partitions not read to their end in "
                                   f"{timeout} s: {sorted(reading)[:3]}")
        return ends
    finally:
        consumer.close()
