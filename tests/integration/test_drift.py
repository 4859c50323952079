"""Schema drift on real services: a source that starts sending a new field, drops a
required one and changes a type shows up on `schemas.drift` and in the worker's metrics."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import msgspec
import orjson
import pytest
from confluent_kafka import Consumer
from msgspec.structs import replace

from infra.settings import Settings
from schemas.contract import SCHEMA_DRIFT
from schemas.drift import DriftEvent
from streams.traffic.generator import GeneratedEvent, generate
from tests.integration.harness import WorkerProcess, free_port, landed, produce, wait_until

pytestmark = pytest.mark.integration

drift_decoder = msgspec.json.Decoder(DriftEvent)


def _changed(event: GeneratedEvent) -> GeneratedEvent:
    doc = orjson.loads(event.value)
    doc["utm_campaign"] = "spring-open-house"  # a new field
    del doc["listing"]["baths"]  # a field every event had
    doc["listing"]["price"] = str(doc["listing"]["price"])  # a number now sent as text
    return replace(event, value=orjson.dumps(doc))


def _drift_events(settings: Settings, group: str, want: set[tuple[str, str]],
                  timeout: float) -> list[DriftEvent]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([settings.topic(SCHEMA_DRIFT)])
    found: list[DriftEvent] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not want <= {(e.kind, e.field) for e in found}:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            found.append(drift_decoder.decode(message.value()))
            assert message.key() == b"portal"
    finally:
        consumer.close()
    return found


def test_a_source_changing_shape_is_reported_on_schemas_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:10]
    settings = Settings(
        clickhouse_url=f"chdb://{tmp_path / 'warehouse'}",
        state_dir=tmp_path / "state",
        topic_prefix=f"t{run}.",
        worker_web_port=free_port(),
        land_batch_seconds=0.2,
    )
    monkeypatch.setenv("AIQ_DRIFT_SAMPLE_EVERY", "1")
    monkeypatch.setenv("AIQ_DRIFT_WINDOW_EVENTS", "40")
    events = generate(200, sources=("portal",), seed=41, malformed_share=0.0)
    steady, later = events[:120], [_changed(e) for e in events[120:]]

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        produce(settings, steady)
        assert wait_until(lambda: landed(settings)[0] == 120, timeout=120), worker.log_tail()
        produce(settings, later)
        want = {("field_added", "utm_campaign"), ("field_removed", "listing.baths"),
                ("type_changed", "listing.price")}
        found = _drift_events(settings, f"t{run}-drift", want, timeout=90)
        assert {(e.kind, e.field) for e in found} == want, (found, worker.log_tail())
        price = next(e for e in found if e.field == "listing.price")
        assert (price.baseline_type, price.window_type, price.source) == (
            "number", "string", "portal")

        metrics = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/metrics").text
        for kind, field in want:
            assert (f'aiq_schema_drift_total{{field="{field}",kind="{kind}",source="portal"}} '
                    "1.0") in metrics
    finally:
        worker.stop()
