"""Delayed-label learning on real Kafka: outcomes join the snapshot taken at scoring time,
including outcomes that arrive after a worker restart, and the model resumes from its
checkpoint instead of starting cold."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer

from infra.kafka_admin import KEY_PARTITIONER
from infra.produce import produce as produce_traffic
from infra.settings import Settings
from schemas.codec import encode
from streams.traffic import TrafficGenerator
from tests.integration.harness import WorkerProcess, free_port, landed, produce, scalar, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        topic_prefix=f"l{uuid.uuid4().hex[:10]}.",
        worker_web_port=free_port(),
        land_batch_seconds=0.2,
    )


def learned(settings: Settings) -> int:
    text = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/metrics", timeout=5).text
    match = re.search(r'^aiq_outcomes_learned_total\{model="champion"\} ([0-9.]+)$', text, re.M)
    return int(float(match[1])) if match else 0


def model_learned(settings: Settings) -> int:
    version = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/healthz").json()["model"]
    return int(version.rsplit("-n", 1)[1])


def test_outcomes_from_aiqleads_produce_are_learned(settings: Settings, tmp_path: Path) -> None:
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        # Our own producer: lz4-compressed batches and outcomes that arrive later.
        summary = produce_traffic(settings, sources=("portal", "facebook"), rate=0, count=300,
                                  seed=3, malformed_share=0.0, outcome_delay=0.5)
        sent = summary.outcomes_sent
        assert sent == 300
        assert wait_until(lambda: learned(settings) == sent, timeout=120), (
            learned(settings), worker.log_tail())
        assert wait_until(lambda: scalar(settings, "SELECT count() FROM outcomes FINAL") == sent,
                          timeout=60)
        assert model_learned(settings) == sent
    finally:
        worker.stop()


def test_outcomes_after_a_restart_still_find_their_snapshot(
    settings: Settings, tmp_path: Path
) -> None:
    generator = TrafficGenerator(seed=9, malformed_share=0.0)
    events = generator.take(200)
    outcomes = [generator.outcome(event, 0.0)[1] for event in events]

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    produce(settings, events)
    assert wait_until(lambda: landed(settings)[0] == len(events), timeout=120), worker.log_tail()
    half = len(outcomes) // 2
    _send_outcomes(settings, outcomes[:half])
    assert wait_until(lambda: learned(settings) == half, timeout=60), worker.log_tail()
    before = model_learned(settings)
    worker.stop()  # graceful: the model is checkpointed on shutdown

    worker.start()
    try:
        assert model_learned(settings) == before == half  # resumed, not cold
        _send_outcomes(settings, outcomes[half:])
        assert wait_until(lambda: model_learned(settings) == len(outcomes), timeout=120), (
            model_learned(settings), worker.log_tail())
    finally:
        worker.stop()


def _send_outcomes(settings: Settings, outcomes: list) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap,
                         "partitioner": KEY_PARTITIONER})
    for outcome in outcomes:
        producer.produce(settings.topic("leads.outcomes"), encode(outcome),
                         key=outcome.lead_id.encode())
    assert producer.flush(30) == 0
