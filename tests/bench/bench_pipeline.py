"""Whole-pipeline benchmark: Kafka → worker (parse, validate, H3, score) → ClickHouse.

Two runs against a real worker process on the embedded warehouse (the default):
- saturation: pre-generated events produced flat out; leads/s from the first produce
  timestamp to the last row landed;
- latency: paced well below capacity; produce → landed percentiles, read from the
  rows themselves (`ingested_ms - produced_ms`).

Run with `make bench`; prints the table BENCHMARKS.md quotes.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from infra.settings import Settings
from infra.warehouse.query import run_query
from streams.traffic.generator import generate
from tests.integration.harness import WorkerProcess, free_port, landed, produce, wait_until

pytestmark = [pytest.mark.bench, pytest.mark.integration]

SATURATION_EVENTS = int(os.environ.get("AIQ_BENCH_EVENTS", "40000"))
LATENCY_RATE = float(os.environ.get("AIQ_BENCH_RATE", "300"))
LATENCY_SECONDS = 20


def _settings(tmp_path: Path, name: str) -> Settings:
    return Settings(
        clickhouse_url=f"chdb://{tmp_path / name / 'warehouse'}",
        state_dir=tmp_path / name / "state",
        topic_prefix=f"b{uuid.uuid4().hex[:8]}.",
        worker_web_port=free_port(),
    )


def _run(settings: Settings, tmp_path: Path, count: int, rate: float, seed: int) -> dict:
    events = generate(count, seed=seed, malformed_share=0.03)
    expected = (sum(e.valid for e in events), sum(not e.valid for e in events))
    worker = WorkerProcess(settings, tmp_path / f"{settings.topic_prefix}worker.log")
    worker.start()
    try:
        # Warm the worker (partition assignment, first model calls) before timing.
        produce(settings, generate(200, seed=seed + 1000, malformed_share=0.0))
        assert wait_until(lambda: landed(settings)[0] >= 200, timeout=120), worker.log_tail()
        warm_ids = run_query(settings, "SELECT lead_id FROM leads").column("lead_id")
        produce(settings, events, rate=rate)
        target = (expected[0] + 200, expected[1])
        assert wait_until(lambda: landed(settings) == target, timeout=600), (
            landed(settings), target, worker.log_tail())
        ids = ", ".join(f"'{i}'" for i in warm_ids)
        row = run_query(
            settings,
            "SELECT count(), min(produced_ms), max(ingested_ms), "
            "quantiles(0.5, 0.95, 0.99)(ingested_ms - produced_ms), max(ingested_ms - produced_ms) "
            f"FROM leads FINAL WHERE lead_id NOT IN ({ids})",
        ).rows[0]
    finally:
        worker.stop()
    n, first_ms, last_ms, (p50, p95, p99), worst = row
    total = count
    return {
        "events": total,
        "leads": n,
        "seconds": (last_ms - first_ms) / 1000,
        "events_per_s": total / ((last_ms - first_ms) / 1000),
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": worst,
    }


def test_pipeline_throughput_and_latency(tmp_path: Path) -> None:
    saturated = _run(_settings(tmp_path, "sat"), tmp_path, SATURATION_EVENTS, 0, seed=101)
    paced_count = int(LATENCY_RATE * LATENCY_SECONDS)
    paced = _run(_settings(tmp_path, "lat"), tmp_path, paced_count, LATENCY_RATE, seed=202)
    print("\n\nWhole pipeline, one worker, embedded chdb warehouse (make bench)")
    print(f"{'run':<34}{'events':>8}{'events/s':>10}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
          f"{'max ms':>8}")
    for name, r in (("saturation (produce flat out)", saturated),
                    (f"paced at {LATENCY_RATE:.0f}/s", paced)):
        print(f"{name:<34}{r['events']:>8}{r['events_per_s']:>10.0f}{r['p50_ms']:>8.0f}"
              f"{r['p95_ms']:>8.0f}{r['p99_ms']:>8.0f}{r['max_ms']:>8.0f}")
    assert saturated["leads"] > 0 and paced["leads"] > 0
