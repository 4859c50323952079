"""E6: hostile events among valid ones; every one a dead letter with a reason and its origin.

The worker must never stop, and its memory must stay bounded: the scenario reports the
worker's peak RSS (VmHWM) in the table.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from infra.kafka.admin import KEY_PARTITIONER
from infra.settings import Settings
from infra.warehouse.query import run_query
from schemas.contract import raw_topic
from tests.e2e.conftest import ScenarioTable, size
from tests.e2e.counts import Produced, settle
from tests.e2e.traffic import SteadyStream, all_sources
from tests.integration.harness import WorkerProcess
from tests.unit.streams.hostile import Hostile, drawn, hand_picked

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1200)]

RATE = 200.0  # valid leads a second; the hostile ones go alongside at half that
RSS_LIMIT_MB = 1024  # bounded: a 2-core box with five engineers on it


def produce_hostile(settings: Settings, hostile: list[Hostile], rate: float) -> int:
    """Send them like an attacker with a real client would; the number acknowledged."""
    producer = Producer({
        "bootstrap.servers": settings.kafka_bootstrap, "acks": "all",
        "enable.idempotence": True, "partitioner": KEY_PARTITIONER, "linger.ms": 5,
        # 5 MB documents: compressed they fit the broker's 1 MB batch limit.
        "compression.type": "lz4", "message.max.bytes": 16 * 1024 * 1024,
    })
    acked: list[int] = []
    failed: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        (failed.append(str(err)) if err is not None else acked.append(1))

    started = time.monotonic()
    for i, event in enumerate(hostile):
        headers = [(k, v.encode("utf-8", "surrogateescape")) for k, v in event.headers]
        producer.produce(settings.topic(raw_topic(event.source)), event.value, key=event.key,
                         headers=headers, on_delivery=delivered)
        producer.poll(0)
        ahead = started + (i + 1) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    assert producer.flush(60) == 0
    assert not failed, failed[:3]
    return len(acked)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_e6_hostile_events_all_dead_lettered(
    run_settings: Settings, scenario_table: ScenarioTable, tmp_path: Path
) -> None:
    n_hostile = size(2_000, 10_000)
    picked = hand_picked()
    hostile = picked + drawn(n_hostile - len(picked))
    events = all_sources(size(2_000, 10_000), seed=606)
    worker = WorkerProcess(run_settings, tmp_path / "worker.log")
    worker.start(timeout=120)
    stream = SteadyStream(run_settings, events, rate=RATE).start()
    try:
        sent = produce_hostile(run_settings, hostile, RATE / 2)
        stream.join()
        valid = stream.acknowledged
        produced = Produced(valid.valid_ids, valid.invalid + sent)
        result = settle(run_settings, produced)
        unexplained = run_query(run_settings, "SELECT count() FROM dlq FINAL WHERE reason = '' "
                                              "OR topic = '' OR offset < 0").scalar()
        reasons = dict(run_query(run_settings, "SELECT reason, count() FROM dlq FINAL "
                                               "GROUP BY reason").rows)
        alive = worker.proc is not None and worker.proc.poll() is None
        rss = peak_rss_mb(worker.proc.pid) if alive and worker.proc else float("nan")
    finally:
        worker.stop()
    ok = alive and unexplained == 0 and rss < RSS_LIMIT_MB
    scenario_table.add(len(events) + len(hostile),
                       f"{len(hostile):,} hostile events, peak RSS {rss:.0f} MB", result,
                       extra_ok=ok)
    assert result.exact, f"{result.verdict()}\nreasons {reasons}\n{worker.log_tail()}"
    assert alive, worker.log_tail()
    assert unexplained == 0, f"{unexplained} dead letters without a reason or origin"
    assert rss < RSS_LIMIT_MB, f"peak RSS {rss:.0f} MB"
