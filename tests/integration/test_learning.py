"""Delayed-label learning on real Kafka: outcomes join the snapshot taken at scoring time and
both arms learn them, including outcomes that arrive after a worker restart; the scorer's
checkpoint restored after the restart carries on with the very same weights, and
promotion and rollback are persisted at once."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from agents.models import ScorerCheckpoints
from infra.demo.produce import produce as produce_traffic
from infra.kafka.admin import KEY_PARTITIONER
from infra.settings import Settings
from schemas.codec import encode
from schemas.contract import LEADS_OUTCOMES
from streams.scoring.arms import Scorer
from streams.traffic.generator import TrafficGenerator
from tests.integration.harness import WorkerProcess, free_port, landed, produce, scalar, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # The worker subprocess inherits the environment: half the leads go to the challenger.
    monkeypatch.setenv("AIQ_CHALLENGER_SHARE", "0.5")
    return Settings(
        state_dir=tmp_path / "state",
        topic_prefix=f"l{uuid.uuid4().hex[:10]}.",
        worker_web_port=free_port(),
        land_batch_seconds=0.2,
        challenger_share=0.5,
    )


def _url(settings: Settings, path: str) -> str:
    return f"http://127.0.0.1:{settings.worker_web_port}{path}"


def learned(settings: Settings, arm: str = "champion") -> int:
    text = httpx.get(_url(settings, "/metrics"), timeout=5).text
    match = re.search(rf'^aiq_outcomes_learned_total\{{model="{arm}"\}} ([0-9.]+)$', text, re.M)
    return int(float(match[1])) if match else 0


def models(settings: Settings) -> dict[str, Any]:
    return httpx.get(_url(settings, "/models"), timeout=5).json()


def labels_by_arm(settings: Settings) -> dict[str, int]:
    return {name: arm["labels"] for name, arm in models(settings)["arms"].items()}


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
        assert learned(settings, "challenger") == sent  # both arms learn every outcome
        assert wait_until(lambda: scalar(settings, "SELECT count() FROM outcomes FINAL") == sent,
                          timeout=60)
        assert labels_by_arm(settings) == {"champion": sent, "challenger": sent}
        # Both arms served, split by the lead id's hash.
        rows = _scored(settings)
        scorer = Scorer.from_specs(settings.model_spec, settings.challenger_spec,
                                   challenger_share=0.5)
        assert {arm for _, arm, _ in rows} == {"champion", "challenger"}
        assert all(arm == scorer.arm_for(lead_id) for lead_id, arm, _ in rows)
    finally:
        worker.stop()


def _scored(settings: Settings) -> list[tuple[str, str, list[str]]]:
    from infra.warehouse.query import run_query

    result = run_query(settings, "SELECT lead_id, arm, reasons FROM leads FINAL")
    return [(row[0], row[1], list(row[2])) for row in result.rows]


def test_late_outcomes_after_a_restart_are_learned_by_both_arms_from_the_same_weights(
    settings: Settings, tmp_path: Path
) -> None:
    generator = TrafficGenerator(seed=9, malformed_share=0.0)
    events = generator.take(200)
    outcomes = [generator.outcome(event, 0.0)[1] for event in events]
    half = len(outcomes) // 2
    checkpoints = ScorerCheckpoints.of(settings)

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    produce(settings, events)
    assert wait_until(lambda: landed(settings)[0] == len(events), timeout=120), worker.log_tail()
    _send_outcomes(settings, outcomes[:half])  # late: every lead scored long before
    assert wait_until(lambda: labels_by_arm(settings) == {"champion": half, "challenger": half},
                      timeout=60), worker.log_tail()
    before = models(settings)
    worker.stop()  # graceful: the scorer is checkpointed on shutdown
    stopped, _ = checkpoints.load()  # type: ignore[misc]
    assert stopped.status()["arms"] == before["arms"]

    worker.start()
    try:
        after = models(settings)
        assert after["arms"] == before["arms"]  # resumed, not cold: versions, metrics, labels

        # A promotion is checkpointed at once; the checkpoint holds the restored models.
        promoted = httpx.post(_url(settings, "/models/promote"), timeout=10).json()
        assert promoted["arms"]["champion"]["model"] == before["arms"]["challenger"]["model"]
        swapped, _ = checkpoints.load()  # type: ignore[misc]
        assert _weights(swapped.champion.model) == _weights(stopped.challenger.model)  # type: ignore[union-attr]
        assert _weights(swapped.challenger.model) == _weights(stopped.champion.model)  # type: ignore[union-attr]

        _send_outcomes(settings, outcomes[half:])  # outcomes that arrive after the restart
        total = len(outcomes)
        assert wait_until(lambda: labels_by_arm(settings) == {"champion": total,
                                                             "challenger": total},
                          timeout=120), (models(settings), worker.log_tail())
        # Leads scored by models that have learned carry reason codes, whichever arm served.
        more = generator.take(20)
        produce(settings, more)
        assert wait_until(lambda: landed(settings)[0] == len(events) + len(more), timeout=60)
        fresh = {e.lead_id for e in more}
        rows = [row for row in _scored(settings) if row[0] in fresh]
        assert len(rows) == len(more) and {arm for _, arm, _ in rows} == {"champion",
                                                                           "challenger"}
        assert all(reasons and all(re.fullmatch(r"[a-z0-9_]+[+-]", r) for r in reasons)
                   for _, _, reasons in rows), rows

        rolled = httpx.post(_url(settings, "/models/rollback"), timeout=10).json()
        assert rolled["arms"]["champion"]["model"] == before["arms"]["champion"]["model"]
        again = httpx.post(_url(settings, "/models/rollback"), timeout=10)
        assert again.status_code == 409 and "no promotion" in again.json()["error"]
    finally:
        worker.stop()
    final, _ = checkpoints.load()  # type: ignore[misc]
    assert final.champion.model.name == stopped.champion.model.name
    assert final.champion.model.n_learned == len(outcomes)
    assert len(checkpoints.versions()) >= 3  # stop, promote, rollback, stop: versions kept


def _weights(model: Any) -> dict[str, float]:
    return dict(model.explainer.linear.weights)


def _send_outcomes(settings: Settings, outcomes: list) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap,
                         "partitioner": KEY_PARTITIONER})
    for outcome in outcomes:
        producer.produce(settings.topic(LEADS_OUTCOMES), encode(outcome),
                         key=outcome.lead_id.encode())
    assert producer.flush(30) == 0
