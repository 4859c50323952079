"""The raw → scored loop commits a batch only after every sink stored it, on real services.

A worker whose Redis does not answer lands every lead in the warehouse (the two sinks
run side by side) but commits nothing for the raw topics: serving never returned. Killed
and restarted with Redis, it reads the same batches again, serves them, commits up to the
end of every raw partition, and the warehouse still has each lead once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from infra.settings import Settings
from schemas.contract import RAW_TOPICS
from streams.traffic.generator import generate
from tests.integration.harness import (
    WorkerProcess,
    free_port,
    landed,
    produce,
    scalar,
    wait_until,
)

pytestmark = pytest.mark.integration


def committed_and_ends(settings: Settings) -> tuple[dict[tuple[str, int], int], dict]:
    """The ingest group's committed offsets and the high watermarks of every raw partition."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"{settings.topic_prefix}{settings.app_id}-ingest",
                         "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(settings.topic(t), p) for t in RAW_TOPICS
                      for p in range(settings.topic_partitions)]
        committed = {(tp.topic, tp.partition): tp.offset
                     for tp in consumer.committed(partitions, timeout=10)}
        ends = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1]
                for tp in partitions}
        return committed, ends
    finally:
        consumer.close()


@pytest.mark.parametrize("worker_settings", ["embedded"], indirect=True)
def test_nothing_is_committed_until_redis_has_the_batch_too(
    worker_settings: Settings, tmp_path: Path
) -> None:
    settings = worker_settings
    events = generate(400, seed=31, malformed_share=0.05)
    valid = {e.lead_id for e in events if e.valid}
    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})

    worker = WorkerProcess(no_redis, tmp_path / "worker.log")
    worker.start(down=("redis",))  # /readyz rightly says Redis is missing
    try:
        produce(settings, events)
        # The warehouse has every lead: landing does not wait for serving...
        assert wait_until(lambda: landed(settings)[0] == len(valid), timeout=120), (
            landed(settings), worker.log_tail())
        # ...but no raw offset is committed while Redis has not stored the batch.
        committed, ends = committed_and_ends(settings)
        assert sum(ends.values()) == len(events)
        assert all(offset < 0 for offset in committed.values()), committed
    finally:
        worker.kill()

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        def all_committed() -> bool:
            committed, ends = committed_and_ends(settings)
            return all(committed[tp] == end for tp, end in ends.items() if end > 0)

        assert wait_until(all_committed, timeout=120), worker.log_tail()
        client = redis.Redis.from_url(settings.redis_url)
        cards = {key.decode().removeprefix(f"{settings.topic_prefix}lead:")
                 for key in client.scan_iter(match=f"{settings.topic_prefix}lead:*")}
        assert cards and cards <= valid  # the replayed batches were served this time
        assert scalar(settings, "SELECT uniqExact(lead_id) FROM leads") == len(valid)
    finally:
        worker.stop()
