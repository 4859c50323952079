"""A lead's whole journey on real services: Kafka → Faust worker → ClickHouse (both backends).

Events are produced by confluent-kafka (librdkafka), not by our own producer code,
and counted in the warehouse exactly: every valid lead once, every malformed event
in the DLQ with the reason the generator expected.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from infra.settings import Settings
from infra.warehouse.query import run_query
from schemas.contract import raw_topic
from streams.traffic.generator import generate
from tests.integration.harness import WorkerProcess, landed, produce, scalar, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(worker_settings: Settings) -> Settings:
    return worker_settings


def test_leads_land_scored_and_garbage_lands_in_the_dlq(settings: Settings, tmp_path: Path) -> None:
    events = generate(400, seed=11, malformed_share=0.15)
    valid = {e.lead_id for e in events if e.valid}
    malformed = Counter(e.expected for e in events if not e.valid)
    assert valid and sum(malformed.values()) > 20

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        produce(settings, events)
        expected = (len(valid), sum(malformed.values()))
        assert wait_until(lambda: landed(settings) == expected, timeout=120), (
            landed(settings), expected, worker.log_tail())

        ids = set(run_query(settings, "SELECT lead_id FROM leads FINAL").column("lead_id"))
        assert ids == valid
        rows = run_query(settings, "SELECT min(score), max(score), countIf(model_version = ''), "
                                   "countIf(h3_r8 = 0 AND location_precision != 'none'), "
                                   "countIf(length(features_keys) = 0) FROM leads FINAL").rows
        low, high, unversioned, unlocated, featureless = rows[0]
        assert 0.0 <= low <= high <= 1.0
        assert (unversioned, unlocated, featureless) == (0, 0, 0)

        reasons = run_query(settings, "SELECT reason, count() AS n FROM dlq FINAL GROUP BY reason")
        assert dict(reasons.rows) == dict(malformed)
        origins = run_query(settings, "SELECT topic, partition, offset, raw, source FROM dlq FINAL")
        raw_by_topic = {(settings.topic(raw_topic(e.source)), e.value) for e in events
                        if not e.valid}
        for topic, partition, offset, raw, source in origins.rows:
            raw_bytes = raw if isinstance(raw, bytes) else raw.encode()
            assert (topic, raw_bytes) in raw_by_topic
            assert partition >= 0 and offset >= 0 and topic.endswith(f"leads.raw.{source}")
    finally:
        worker.stop()


def test_a_worker_killed_mid_stream_loses_and_duplicates_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    events = generate(3000, seed=12, malformed_share=0.05)
    valid = {e.lead_id for e in events if e.valid}
    n_malformed = sum(not e.valid for e in events)

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    producing = threading.Thread(target=produce, args=(settings, events, 600.0))
    producing.start()
    try:
        # Kill once part of the stream has landed, while the rest is still arriving.
        assert wait_until(lambda: landed(settings)[0] > 300, timeout=120), worker.log_tail()
        worker.kill()
        worker.start()
        producing.join()
        expected = (len(valid), n_malformed)
        assert wait_until(lambda: landed(settings) == expected, timeout=180), (
            landed(settings), expected, worker.log_tail())
        distinct = scalar(settings, "SELECT uniqExact(lead_id) FROM leads")
        assert distinct == len(valid)
        ids = set(run_query(settings, "SELECT lead_id FROM leads FINAL").column("lead_id"))
        assert ids == valid
    finally:
        producing.join()
        worker.stop()
