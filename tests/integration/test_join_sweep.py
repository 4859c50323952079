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
from pathlib import Path

import httpx
import orjson
import pytest
from confluent_kafka import Producer

from agents.partitioning import key_partition
from infra.kafka.admin import KEY_PARTITIONER
from infra.settings import Settings
from schemas.codec import encode
from schemas.outcome import Outcome
from streams.scoring.labels import KEEP_MS, UNKNOWN_AFTER_MS, Snapshot, stored
from streams.traffic.generator import generate
from tests.integration.harness import (
    WorkerProcess,
    changelog,
    landed_by_worker,
    own_settings,
    wait_until,
)

pytestmark = pytest.mark.integration

SWEEP_SECONDS = 2.0


def _dropped_unknown(settings: Settings) -> float:
    text = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/metrics", timeout=5).text
    match = re.search(r'^aiq_outcomes_dropped_total\{reason="unknown"\} ([0-9.]+)$', text, re.M)
    return float(match[1]) if match else 0.0


def test_outlived_snapshots_and_unclaimed_outcomes_are_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = own_settings(tmp_path, monkeypatch, "j", join_sweep_seconds=SWEEP_SECONDS)
    events = generate(20, sources=("portal",), seed=61, malformed_share=0.0, fraud_share=0.0,
                      duplicate_share=0.0)
    landed_by_worker(settings, events, tmp_path / "worker.log").stop()

    # What a month-long run leaves behind, written as the worker writes its changelogs.
    now_ms = int(time.time() * 1000)
    snapshot = stored(Snapshot({"x": 1.0}, scored_ms=now_ms - KEEP_MS - 60_000))
    outcome = Outcome(lead_id="never-scored-here", kind="purchase",
                      occurred_ms=now_ms - UNKNOWN_AFTER_MS - 60_000)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap,
                         "partitioner": KEY_PARTITIONER})
    for table, lead_id, value in (("features_by_lead", "month-old", snapshot),
                                  ("outcome_by_lead", outcome.lead_id, encode(outcome).decode())):
        producer.produce(f"{settings.topic_prefix}{settings.app_id}-{table}-changelog",
                         orjson.dumps(value),
                         orjson.dumps(lead_id),
                         partition=key_partition(lead_id.encode(), settings.topic_partitions))
    assert producer.flush(30) == 0

    worker = WorkerProcess(settings, tmp_path / "again.log")
    worker.start()
    try:
        def forgotten() -> bool:
            snapshots = changelog(settings, "features_by_lead")
            outcomes = changelog(settings, "outcome_by_lead")
            return (snapshots.get("month-old", [b""])[-1] is None
                    and outcomes.get(outcome.lead_id, [b""])[-1] is None)

        assert wait_until(forgotten, timeout=60, interval=1.0), worker.log_tail()
        assert _dropped_unknown(settings) == 1.0
        # Every fresh snapshot is still there, written once and never deleted.
        snapshots = changelog(settings, "features_by_lead")
        fresh = {key: values for key, values in snapshots.items() if key != "month-old"}
        assert len(fresh) == len(events)
        assert all(values[-1] is not None for values in fresh.values()), fresh
    finally:
        worker.stop()
