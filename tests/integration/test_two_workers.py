"""Two workers in one group give one worker's answers: dedupe links and fraud verdicts.

The raw topics are keyed by the source's own id, so a duplicate and its original, or a
fraud burst's leads, usually reach different workers. Each worker mirrors the whole dedupe
table (`infra.kafka.mirror`) and re-sends the links that only the mirror revealed, so the
warehouse ends with the links one worker gives, exactly; and each worker's fraud screen
remembers the other's sightings (`fraud.sightings`), so the screen's precision and recall
stay within 0.01 of one worker's (issue 13's bound: a verdict may differ when a burst's
leads reach the two workers within one mirror delay).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from agents.ingest import RawMessage, RawStage
from infra.settings import Settings
from infra.warehouse.query import run_query
from infra.warehouse.server import ServerWarehouse
from schemas.contract import SOURCES, raw_topic
from streams.features.build import feature_stores
from streams.fraud.quality import precision_recall
from streams.fraud.screen import FraudScreen
from streams.ingest import IngestConfig, IngestState
from streams.scoring.arms import Scorer
from streams.traffic.fraud import VELOCITY_PATTERNS
from streams.traffic.generator import GeneratedEvent, generate
from tests.integration.harness import (
    WorkerProcess,
    free_port,
    landed,
    own_settings,
    produce,
    wait_until,
)

pytestmark = pytest.mark.integration

SCORED = re.compile(r'^aiq_leads_scored_total\{source="\w+"\} (\S+)$', re.M)
SIGHTINGS = re.compile(r"^aiq_fraud_sightings_mirrored_total (\S+)$", re.M)


def counted(worker: WorkerProcess, metric: re.Pattern[str]) -> float:
    metrics = httpx.get(f"http://127.0.0.1:{worker.settings.worker_web_port}/metrics",
                        timeout=5).text
    return sum(float(value) for value in metric.findall(metrics))


def one_worker(settings: Settings, events: list[GeneratedEvent]
               ) -> tuple[dict[str, str], set[str]]:
    """Duplicate → original and the quarantined leads, as one stage in this process has
    them, in production order."""
    state = IngestState(scorer=Scorer.from_specs(settings.model_spec, None, seed=1),
                        screen=FraudScreen(), first_lead_by_contact={},
                        stores=feature_stores().all)
    stage = RawStage(settings, IngestConfig(), state, lambda *_: None,
                     scored_topic="scored", dlq_topic="dlq")
    now = time.time()
    batch = stage.score([RawMessage(settings.topic(raw_topic(e.source)), 0, i, e.key, e.value,
                                    list(e.headers.items()), now)
                         for i, e in enumerate(events)])
    final = {lead.lead_id: lead for lead in batch.leads}  # last version wins
    return ({lead_id: lead.duplicate_of for lead_id, lead in final.items() if lead.duplicate_of},
            {lead_id for lead_id, lead in final.items() if lead.quarantined})


def test_two_workers_link_duplicates_and_screen_bursts_as_one_worker_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_warehouse: ServerWarehouse
) -> None:
    w = server_warehouse  # two processes: chdb allows one per path
    settings = own_settings(tmp_path, monkeypatch, "w", clickhouse_url=(
        f"clickhouse://{w.user}:{w.password}@{w.host}:{w.port}/{w.database}"))
    # Originals first, then a wave of re-sends: most pairs straddle the two workers.
    events = generate(1200, sources=SOURCES, seed=72, malformed_share=0.0, fraud_share=0.15,
                      duplicate_share=0.25)
    valid = [e for e in events if e.valid]
    assert sum(1 for e in valid if e.duplicate_of) > 150
    fraud = {e.lead_id: e.fraud is not None for e in valid}
    assert sum(e.fraud in (*VELOCITY_PATTERNS, "bot_timing") for e in valid) > 40  # bursts

    first = WorkerProcess(settings, tmp_path / "first.log")
    second = WorkerProcess(settings.model_copy(update={
        "state_dir": tmp_path / "second-state", "worker_web_port": free_port()}),
        tmp_path / "second.log")
    first.start(timeout=120)
    second.start(timeout=180)
    try:
        produce(settings, events, rate=300)
        expected = (len({e.lead_id for e in valid}), 0)
        assert wait_until(lambda: landed(settings) == expected, timeout=180), (
            landed(settings), expected, first.log_tail(), second.log_tail())
        # Both took part: otherwise this would test one worker.
        shares = [counted(first, SCORED), counted(second, SCORED)]
        assert min(shares) > 0.2 * sum(shares), shares
        # Each screen remembered the other's leads (the effect: tests/unit/agents).
        assert all(counted(w, SIGHTINGS) > 0 for w in (first, second))
        def links() -> dict[str, str]:
            return dict(run_query(settings, "SELECT lead_id, duplicate_of FROM leads FINAL "
                                            "WHERE duplicate_of IS NOT NULL").rows)

        # A link missed across workers is re-sent a mirror delay after both originals.
        expected_links, expected_quarantined = one_worker(settings, events)
        wait_until(lambda: links() == expected_links, timeout=30)
        linked = links()
        wrong = {lead for lead in linked.keys() | expected_links.keys()
                 if linked.get(lead) != expected_links.get(lead)}
        assert not wrong, f"{len(wrong)} of {len(expected_links)} links differ from one worker's"
        assert not set(linked.values()) & set(linked)  # every link points at an original

        quarantined = {lead for (lead,) in run_query(
            settings, "SELECT lead_id FROM leads FINAL WHERE quarantined").rows}
        two, one = (precision_recall((fraud[lead], lead in flagged) for lead in fraud)
                    for flagged in (quarantined, expected_quarantined))
        assert all(abs(a - b) <= 0.01 for a, b in zip(two, one, strict=True)), (
            two, one, len(quarantined ^ expected_quarantined))
    finally:
        second.stop()
        first.stop()
