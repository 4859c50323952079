"""Each consumer commits a batch only after its sink stored it, on real services.

A worker whose Redis does not answer lands every lead in the warehouse and commits the raw
topics to their ends (landing does not wait for serving), while the serve group commits
nothing on `leads.scored`: serving never returned. Killed and restarted with Redis, it
serves what it had not, commits `leads.scored` to its end, and the warehouse still has
each lead once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from infra.settings import Settings
from schemas.contract import LEADS_SCORED, RAW_TOPICS
from streams.traffic.generator import generate
from tests.integration.harness import (
    SCAN_COUNT,
    WorkerProcess,
    free_port,
    landed,
    produce,
    scalar,
    wait_until,
)

pytestmark = pytest.mark.integration

CARD_HOURS = int(Settings().lead_card_ttl_hours)


def committed_and_ends(settings: Settings, group: str, topics: list[str]
                       ) -> tuple[dict[tuple[str, int], int], dict]:
    """`group`'s committed offsets and the high watermarks of every partition of `topics`."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"{settings.topic_prefix}{settings.app_id}-{group}",
                         "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(settings.topic(t), p) for t in topics
                      for p in range(settings.topic_partitions)]
        committed = {(tp.topic, tp.partition): tp.offset
                     for tp in consumer.committed(partitions, timeout=10)}
        ends = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1]
                for tp in partitions}
        return committed, ends
    finally:
        consumer.close()


def committed_to_ends(settings: Settings, group_id: str, ends: dict[tuple[str, int], int]
                      ) -> bool:
    """Commit `ends` for `group_id`; False while the broker still counts a killed member."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group_id,
                         "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, partition, end)
                                 for (topic, partition), end in ends.items()],
                        asynchronous=False)
        return True
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.UNKNOWN_MEMBER_ID:
            return False
        raise
    finally:
        consumer.close()


def all_committed(settings: Settings, group: str, topics: list[str]) -> bool:
    committed, ends = committed_and_ends(settings, group, topics)
    return all(committed[tp] == end for tp, end in ends.items() if end > 0)


@pytest.mark.parametrize("worker_settings", ["embedded"], indirect=True)
def test_landing_goes_on_without_redis_and_serving_commits_only_what_redis_has(
    worker_settings: Settings, tmp_path: Path
) -> None:
    settings = worker_settings
    events = generate(400, seed=31, malformed_share=0.05)
    valid = {e.lead_id for e in events if e.valid}
    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    raw, scored = list(RAW_TOPICS), [LEADS_SCORED]

    worker = WorkerProcess(no_redis, tmp_path / "worker.log")
    worker.start(down=("redis",))  # /readyz rightly says Redis is missing
    try:
        produce(settings, events)
        # The warehouse has every lead, and the raw topics are committed to their ends...
        assert wait_until(lambda: landed(settings)[0] == len(valid), timeout=120), (
            landed(settings), worker.log_tail())
        assert wait_until(lambda: all_committed(settings, "ingest", raw), timeout=60), (
            committed_and_ends(settings, "ingest", raw), worker.log_tail())
        # ...but no scored lead is committed by the serve group while Redis has none.
        committed, ends = committed_and_ends(settings, "serve", scored)
        assert sum(ends.values()) >= len(valid)
        assert all(offset < 0 for offset in committed.values()), committed
    finally:
        worker.kill()
    # Faust's group read leads.scored too until learning moved to leads.snapshots: had it
    # got to the end, serving must still start from its own (missing) offsets, not Faust's.
    faust_group = f"{settings.topic_prefix}{settings.app_id}"
    assert wait_until(lambda: committed_to_ends(settings, faust_group, ends), timeout=60)

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        assert wait_until(lambda: all_committed(settings, "serve", scored), timeout=120), (
            worker.log_tail())
        client = redis.Redis.from_url(settings.redis_url)
        cards = {key.decode().removeprefix(f"{settings.topic_prefix}lead:")
                 for key in client.scan_iter(match=f"{settings.topic_prefix}lead:*",
                                                   count=SCAN_COUNT)}
        # Every sellable lead young enough to rank (a card lives 72 h from the lead's
        # event time) is served once Redis is there; an hour's margin for the clock.
        def sellable(hours: int) -> int:
            return scalar(settings, "SELECT count() FROM leads FINAL WHERE h3_r7 != 0 AND NOT "
                          "quarantined AND duplicate_of IS NULL AND event_time > now() - "
                          f"INTERVAL {hours} HOUR")

        assert cards <= valid
        assert sellable(CARD_HOURS - 1) <= len(cards) <= sellable(CARD_HOURS + 1), len(cards)
        assert scalar(settings, "SELECT uniqExact(lead_id) FROM leads") == len(valid)
    finally:
        worker.stop()
