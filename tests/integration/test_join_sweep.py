"""The learning join forgets, in a real worker, what no outcome can use any more.

Before the sweep, `features_by_lead` kept a snapshot of every lead ever scored (~3.5 kB
each in memory then: 30 GB an hour at the bench's rate) and `outcome_by_lead` every outcome that
never met its lead. Here the worker first scores fresh leads, then finds a month-old
snapshot and an outcome that waited hours in its changelogs when it restarts: its sweep
(every two seconds here) must tombstone those two and keep every fresh snapshot.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from agents.partitioning import key_partition
from infra.kafka.admin import KEY_PARTITIONER
from infra.settings import Settings
from schemas.codec import encode
from schemas.outcome import Outcome
from streams.scoring.labels import KEEP_MS, UNKNOWN_AFTER_MS, Snapshot, stored
from streams.traffic.generator import generate
from tests.integration.harness import WorkerProcess, free_port, landed, produce, wait_until

pytestmark = pytest.mark.integration

SWEEP_SECONDS = 2.0


def _changelog(settings: Settings, table: str) -> str:
    return f"{settings.topic_prefix}{settings.app_id}-{table}-changelog"


def _history(settings: Settings, topic: str) -> dict[str, list[bytes | None]]:
    """Every key of a changelog with its values in order (None: deleted), read to its end."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"join-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    ends = {}
    for partition in range(settings.topic_partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        if high > 0:
            ends[partition] = high
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
    history: dict[str, list[bytes | None]] = {}
    deadline = time.monotonic() + 30
    try:
        while ends and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            history.setdefault(orjson.loads(message.key()), []).append(message.value())
            if message.offset() + 1 >= ends.get(message.partition(), 0):
                ends.pop(message.partition(), None)
    finally:
        consumer.close()
    return history


def _dropped_unknown(settings: Settings) -> float:
    text = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/metrics", timeout=5).text
    match = re.search(r'^aiq_outcomes_dropped_total\{reason="unknown"\} ([0-9.]+)$', text, re.M)
    return float(match[1]) if match else 0.0


def test_outlived_snapshots_and_unclaimed_outcomes_are_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(state_dir=tmp_path / "state", topic_prefix=f"j{uuid.uuid4().hex[:10]}.",
                        worker_web_port=free_port(), land_batch_seconds=0.2,
                        join_sweep_seconds=SWEEP_SECONDS)
    monkeypatch.setenv("AIQ_JOIN_SWEEP_SECONDS", str(SWEEP_SECONDS))
    events = generate(20, sources=("portal",), seed=61, malformed_share=0.0, fraud_share=0.0,
                      duplicate_share=0.0)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        produce(settings, events)
        assert wait_until(lambda: landed(settings) == (len(events), 0), timeout=120), (
            landed(settings), worker.log_tail())
    finally:
        worker.stop()

    # What a month-long run leaves behind, written as the worker writes its changelogs.
    now_ms = int(time.time() * 1000)
    snapshot = stored(Snapshot({"x": 1.0}, scored_ms=now_ms - KEEP_MS - 60_000))
    outcome = Outcome(lead_id="never-scored-here", kind="purchase",
                      occurred_ms=now_ms - UNKNOWN_AFTER_MS - 60_000)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap,
                         "partitioner": KEY_PARTITIONER})
    for table, lead_id, value in (("features_by_lead", "month-old", snapshot),
                                  ("outcome_by_lead", outcome.lead_id, encode(outcome).decode())):
        producer.produce(_changelog(settings, table), orjson.dumps(value),
                         orjson.dumps(lead_id),
                         partition=key_partition(lead_id.encode(), settings.topic_partitions))
    assert producer.flush(30) == 0

    worker = WorkerProcess(settings, tmp_path / "again.log")
    worker.start()
    try:
        def forgotten() -> bool:
            snapshots = _history(settings, _changelog(settings, "features_by_lead"))
            outcomes = _history(settings, _changelog(settings, "outcome_by_lead"))
            return (snapshots.get("month-old", [b""])[-1] is None
                    and outcomes.get(outcome.lead_id, [b""])[-1] is None)

        assert wait_until(forgotten, timeout=60, interval=1.0), worker.log_tail()
        assert _dropped_unknown(settings) == 1.0
        # Every fresh snapshot is still there, written once and never deleted.
        snapshots = _history(settings, _changelog(settings, "features_by_lead"))
        fresh = {key: values for key, values in snapshots.items() if key != "month-old"}
        assert len(fresh) == len(events)
        assert all(values[-1] is not None for values in fresh.values()), fresh
    finally:
        worker.stop()
