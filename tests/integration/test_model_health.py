"""Learning without leakage, and the model's health over time, on a real worker.

- Learning uses the feature snapshot taken at scoring time: leads whose snapshot holds a
  feature no scoring path computes (`snapshot_probe`) teach the arms that feature and
  nothing else, so nothing was recomputed when the outcomes arrived.
- An outcome for a lead never scored (and no longer fresh) and one for an expired lead are
  counted (`aiq_outcomes_dropped_total`) and dropped, not learned.
- Per-arm figures land in ClickHouse `model_metrics` (both backends), and
  `aiqleads model status` shows the last hour beside the lifetime figures.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from confluent_kafka import Producer

from infra.cli import main
from infra.kafka.admin import KEY_PARTITIONER
from infra.settings import Settings
from infra.warehouse.query import run_query
from schemas.codec import encode
from schemas.contract import LEADS_OUTCOMES, LEADS_SNAPSHOTS
from schemas.lead import FeatureSnapshot
from schemas.outcome import Outcome
from tests.integration.harness import WorkerProcess, settings_env, wait_until

pytestmark = pytest.mark.integration

LEADS = 120
DAY_MS = 86_400_000


def _counter(settings: Settings, name: str, label: str, value: str) -> int:
    text = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/metrics", timeout=5).text
    match = re.search(rf'^{name}\{{{label}="{value}"\}} ([0-9.]+)$', text, re.M)
    return int(float(match[1])) if match else 0


def _snapshot(lead_id: str, probe: float, scored_ms: int) -> bytes:
    """What the raw loop sends for a scored lead (`RawStage.send_snapshots`), alone."""
    return encode([FeatureSnapshot(lead_id, {"snapshot_probe": probe}, scored_ms)])


def test_learning_uses_the_snapshot_drops_stale_outcomes_and_records_health(
    worker_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = worker_settings
    monkeypatch.setenv("AIQ_MODEL_METRICS_SECONDS", "1")  # the worker inherits it
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        now_ms = int(time.time() * 1000)
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap,
                             "partitioner": KEY_PARTITIONER})

        def send(topic: str, key: str, value: bytes) -> None:
            producer.produce(settings.topic(topic), value, key=key.encode())

        for i in range(LEADS):
            converted = i % 3 == 0
            # Keyed by the lead: the partition its scored lead and its outcome have.
            send(LEADS_SNAPSHOTS, f"portal:h{i}",
                 _snapshot(f"portal:h{i}", 1.0 if converted else -1.0, now_ms))
            send(LEADS_OUTCOMES, f"portal:h{i}", encode(Outcome(
                lead_id=f"portal:h{i}", kind="conversion" if converted else "no_conversion",
                occurred_ms=now_ms + 1_000)))
        # Scored 40 days before its outcome: expired. Never scored, two hours ago: unknown.
        send(LEADS_SNAPSHOTS, "portal:old", _snapshot("portal:old", 1.0, now_ms - 40 * DAY_MS))
        send(LEADS_OUTCOMES, "portal:old",
             encode(Outcome(lead_id="portal:old", kind="purchase", occurred_ms=now_ms)))
        send(LEADS_OUTCOMES, "portal:nobody", encode(Outcome(
            lead_id="portal:nobody", kind="purchase", occurred_ms=now_ms - 2 * 3_600_000)))
        assert producer.flush(30) == 0

        learned = "aiq_outcomes_learned_total"
        assert wait_until(lambda: _counter(settings, learned, "model", "champion") == LEADS,
                          timeout=120), worker.log_tail()
        dropped = "aiq_outcomes_dropped_total"
        assert wait_until(lambda: _counter(settings, dropped, "reason", "unknown") == 1
                          and _counter(settings, dropped, "reason", "expired") == 1, timeout=60)
        status = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/models",
                           timeout=5).json()
        champion = status["arms"]["champion"]
        assert champion["labels"] == LEADS  # neither stale outcome was learned
        # Only the snapshot's feature was ever seen: nothing was recomputed at outcome time.
        assert set(champion["importance"]) == {"snapshot_probe"}
        assert champion["hour"]["labels"] == LEADS
        assert champion["lifetime"]["label_delay_s"] == pytest.approx(1.0)

        def health() -> dict[str, tuple[int, float | None]]:
            rows = run_query(settings, "SELECT span, labels, roc_auc FROM model_metrics FINAL "
                             "WHERE arm = 'champion' ORDER BY recorded_at DESC LIMIT 3").rows
            return {span: (labels, auc) for span, labels, auc in rows}

        assert wait_until(lambda: health().get("lifetime", (0, None))[0] == LEADS, timeout=60)
        latest = health()
        assert set(latest) == {"lifetime", "rolling", "hour"}
        assert latest["hour"][0] == LEADS and latest["lifetime"][1] is not None

        for name, value in settings_env(settings).items():
            monkeypatch.setenv(name, value)
        shown = CliRunner().invoke(main, ["model", "status"])
        assert shown.exit_code == 0, shown.output
        lines = [line.split() for line in shown.output.splitlines()]
        hour = next(line for line in lines if line[:3] == ["champion", "last", "hour"])
        lifetime = next(line for line in lines if line[:2] == ["champion", "lifetime"])
        assert hour[3] == lifetime[2] == f"{LEADS:,}"
    finally:
        worker.stop()
