"""A batched Kafka consumer and producer for the hot path: poll a batch → process → commit.

Faust delivers one event at a time (four asyncio tasks and a lock per message in
0.15.3's `_drain_messages`) and sends one message at a time through Python; the
raw → scored stage instead reads up to `max_messages` per call and produces its output
with librdkafka's C queue, the loop Quix Streams and Bytewax use. Contract:

- `BatchConsumer(...)` does no I/O; `start()` subscribes. Every consumer call runs on one
  dedicated thread (librdkafka's consumer is not thread-safe, and `consume` blocks), so
  the event loop keeps serving Faust's agents meanwhile.
- `poll()` returns up to `max_messages` messages (fewer when `timeout` passes first);
  partition errors are logged, never returned.
- `produce(topic, value, key, headers)` queues a message (murmur2 on the key, like
  Faust and Java clients, so `leads.scored` stays co-partitioned with `leads.outcomes`);
  `flush()` waits until every queued message is acknowledged by all in-sync replicas and
  re-sends the ones the broker refused, retrying with backoff: it returns only when all
  are stored (backpressure, never loss).
- `commit(offsets)` sends the commit of `{(topic, partition): next offset}` without waiting
  for the coordinator (failures are logged). The caller commits a batch only after every
  sink stored it: a crash before the commit lands replays the batch, and the sinks are
  idempotent. Closing waits for commits in flight.
- Offsets are never committed automatically (`enable.auto.commit` off).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from infra.kafka.admin import KEY_PARTITIONER

log = logging.getLogger(__name__)

_MAX_BACKOFF = 30.0


class BatchConsumer:
    def __init__(self, bootstrap: str, group_id: str, topics: Sequence[str], *,
                 max_messages: int = 1000, poll_timeout: float = 0.05,
                 client_id: str = "aiqleads-ingest", resume_from: str | None = None) -> None:
        """`resume_from`: another group whose committed offsets a partition starts from when
        this group has none yet (the upgrade from the per-event Faust agent, whose group
        committed the raw topics until then: no replay of the whole retention)."""
        self.topics = list(topics)
        self.resume_from = resume_from
        self.max_messages = max_messages
        self.poll_timeout = poll_timeout
        self._consumer_config = {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "client.id": client_id,
            "enable.auto.commit": False,  # commits follow the sinks, never a timer
            "auto.offset.reset": "earliest",
            # A crashed worker's partitions move after 10 s, not librdkafka's 45 s (the
            # heartbeat runs on librdkafka's own thread, so a long batch cannot trip it).
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 2_000,
            # Let the broker gather a batch for up to 20 ms instead of answering with one
            # message: fewer fetch round trips at low rates, no effect on a backlog.
            "fetch.wait.max.ms": 20,
            "on_commit": self._committed,
            "logger": logging.getLogger("librdkafka"),
        }
        self._producer_config = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "partitioner": KEY_PARTITIONER,
            "acks": "all",
            "enable.idempotence": True,  # librdkafka's own retries never reorder or double
            # Every caller flushes after its batch, and a flush sends at once whatever the
            # linger (librdkafka >= 1.9), so linger delays a batch only while the storer is
            # busy with the one before (at most 200 ms). What it does set is
            # how often a produce wakes the broker thread: a message into a partition with
            # nothing waiting writes to the thread's wake-up pipe. At 5 ms that was nearly
            # every message (10 % of a worker's samples in that `write`, py-spy --native);
            # at 200 ms it is once a partition a batch (2.7 %), ~+10 % leads/s (BENCHMARKS).
            "linger.ms": 200,
            "logger": logging.getLogger("librdkafka"),
        }
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-consumer")
        self._failed: list[tuple[str, bytes | None, bytes | None, Any, int]] = []

    def start(self) -> None:
        self._consumer = Consumer(self._consumer_config)
        self._consumer.subscribe(self.topics, on_assign=self._on_assign)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.resume_from is None:
            return
        fresh = [tp for tp in consumer.committed(partitions, timeout=30) if tp.offset < 0]
        if not fresh:
            return
        previous = Consumer({"bootstrap.servers": self._consumer_config["bootstrap.servers"],
                             "group.id": self.resume_from, "enable.auto.commit": False})
        try:
            resumed = {(tp.topic, tp.partition): tp.offset
                       for tp in previous.committed(fresh, timeout=30) if tp.offset >= 0}
        finally:
            previous.close()
        if resumed:
            for tp in partitions:
                tp.offset = resumed.get((tp.topic, tp.partition), tp.offset)
            consumer.assign(partitions)
            log.info("resumed %d partitions from the offsets of group %s", len(resumed),
                     self.resume_from)

    async def _on_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def poll(self) -> list[Message]:
        assert self._consumer is not None, "start() first"
        messages = await self._on_thread(self._consumer.consume, self.max_messages,
                                         self.poll_timeout)
        good = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.error("consume error on %s[%s]: %s", message.topic(), message.partition(),
                          error)
        return good

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None,
                headers: Any = None, partition: int = -1) -> None:
        """Queue one message (`partition` -1: murmur2 of the key picks it)."""
        if self._producer is None:  # table changelogs may write before the loop starts
            self._producer = Producer(self._producer_config)
        while True:
            try:
                self._producer.produce(topic, value, key=key, headers=headers,
                                       partition=partition, on_delivery=self._delivered)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.01)

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        # One bound callback for every message (no closure per message); a refused message
        # carries everything needed to send it again. Runs on the flushing thread.
        if err is not None:
            self._failed.append((msg.topic(), msg.key(), msg.value(), msg.headers(),
                                 msg.partition() if err.code() != KafkaError._UNKNOWN_PARTITION
                                 else -1))

    async def flush(self) -> None:
        """Return once every queued message is stored by the broker (re-sending refusals)."""
        if self._producer is None:
            return
        backoff = 0.5
        while True:
            while await self._on_thread_producer(self._producer.flush, 1.0):
                pass  # still in flight: keep waiting (the event loop stays free)
            if not self._failed:
                return
            failed, self._failed = self._failed, []
            log.error("broker refused %d messages; re-sending in %.1fs", len(failed), backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
            for topic, key, value, headers, partition in failed:
                self.produce(topic, value, key, headers, partition)

    async def _on_thread_producer(self, fn: Callable[..., Any], *args: Any) -> Any:
        # Not the consumer's thread: a flush must not wait behind a poll.
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Send the commit and return without waiting for the coordinator's answer.

        The caller has already stored the batch, which is all at-least-once needs; waiting
        for the answer (30-100 ms on this machine's broker under load) held the storer and
        the serve loop that long per batch, and a serve batch's leads with them. A commit
        that fails (a rebalance took the partitions) is logged by `_committed`: the new
        owner re-reads the batch from the last commit that succeeded (duplicates in
        idempotent sinks, nothing lost)."""
        assert self._consumer is not None, "start() first"
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            await self._on_thread(lambda: self._consumer.commit(offsets=partitions,
                                                                asynchronous=True))
        except KafkaException as exc:
            log.warning("commit of %d partitions failed (%s); the batch will be re-read",
                        len(partitions), exc)

    @staticmethod
    def _committed(err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        # Runs on the consumer's thread, inside `consume`.
        if err is not None:
            log.warning("commit of %d partitions failed (%s); the batch will be re-read",
                        len(partitions), err)

    def close(self) -> None:
        """Leave the group (partitions move at once instead of after the session timeout)."""
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            self._thread.submit(consumer.close).result(timeout=30)
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
        self._thread.shutdown(wait=False)
