"""The dedupe table forgets expired originals on a timer, in a real worker.

The timer deletes table keys outside any event. Faust writes a deletion's changelog
record to the current event's partition unless the table uses the producer's
partitioner, so without it every sweep raised TypeError and nothing was forgotten.
Here the window is a few seconds: every original the worker stored must come back
as a tombstone on the table's changelog topic.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from infra.settings import Settings
from streams.traffic.generator import generate
from tests.integration.harness import WorkerProcess, free_port, landed, produce, wait_until

pytestmark = pytest.mark.integration

WINDOW_HOURS = 0.001  # 3.6 s: the worker sweeps every second


def _changelog(
    settings: Settings, min_keys: int, timeout: float
) -> dict[bytes, list[bytes | None]]:
    """Every key of the dedupe table's changelog with its values in order (None: deleted)."""
    topic = f"{settings.topic_prefix}{settings.app_id}-first_lead_by_contact-changelog"
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"sweep-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    history: dict[bytes, list[bytes | None]] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                if len(history) >= min_keys and all(v[-1] is None for v in history.values()):
                    break  # everything stored has been forgotten
                continue
            history.setdefault(message.key(), []).append(message.value())
    finally:
        consumer.close()
    return history


def test_expired_originals_are_deleted_from_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(state_dir=tmp_path / "state", topic_prefix=f"s{uuid.uuid4().hex[:10]}.",
                        worker_web_port=free_port(), land_batch_seconds=0.2,
                        dedupe_window_hours=WINDOW_HOURS)
    monkeypatch.setenv("AIQ_DEDUPE_WINDOW_HOURS", str(WINDOW_HOURS))
    events = generate(6, sources=("portal",), seed=53, malformed_share=0.0, fraud_share=0.0,
                      duplicate_share=0.0)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        produce(settings, events)
        assert wait_until(lambda: landed(settings) == (len(events), 0), timeout=120), (
            landed(settings), worker.log_tail())
        history = _changelog(settings, min_keys=len(events), timeout=60)
        # One original per contact (email, phone) of each lead, each written, then deleted.
        assert len(history) >= len(events), history
        assert all(values[0] is not None and values[-1] is None
                   for values in history.values()), (history, worker.log_tail())
        log = (tmp_path / "worker.log").read_text(errors="replace")
        assert "Cannot modify table" not in log
    finally:
        worker.stop()
