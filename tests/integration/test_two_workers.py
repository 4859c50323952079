"""Two workers in one group link every duplicate, whichever of them scored the original.

The raw topics are keyed by the source's own id, so a duplicate and its original usually
reach different workers. Each worker mirrors the whole dedupe table
(`infra.kafka.mirror`) and re-sends the links that only the mirror revealed, so the
warehouse ends with the links one worker gives, exactly.
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
from streams.fraud.screen import FraudScreen
from streams.ingest import IngestConfig, IngestState
from streams.scoring.arms import Scorer
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


def scored_by(worker: WorkerProcess) -> float:
    metrics = httpx.get(f"http://127.0.0.1:{worker.settings.worker_web_port}/metrics",
                        timeout=5).text
    return sum(float(value) for value in SCORED.findall(metrics))


def one_worker_links(settings: Settings, events: list[GeneratedEvent]) -> dict[str, str]:
    """Duplicate → original as one stage in this process links them, in production order."""
    state = IngestState(scorer=Scorer.from_specs(settings.model_spec, None, seed=1),
                        screen=FraudScreen(), first_lead_by_contact={},
                        stores=feature_stores().all)
    stage = RawStage(settings, IngestConfig(), state, lambda *_: None,
                     scored_topic="scored", dlq_topic="dlq")
    now = time.time()
    batch = stage.score([RawMessage(settings.topic(raw_topic(e.source)), 0, i, e.key, e.value,
                                    list(e.headers.items()), now)
                         for i, e in enumerate(events)])
    final = {lead.lead_id: lead.duplicate_of for lead in batch.leads}  # last version wins
    return {lead: original for lead, original in final.items() if original}


def test_two_workers_link_duplicates_whose_original_the_other_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_warehouse: ServerWarehouse
) -> None:
    w = server_warehouse  # two processes: chdb allows one per path
    settings = own_settings(tmp_path, monkeypatch, "w", clickhouse_url=(
        f"clickhouse://{w.user}:{w.password}@{w.host}:{w.port}/{w.database}"))
    # Originals first, then a wave of re-sends: most pairs straddle the two workers.
    events = generate(1200, sources=SOURCES, seed=71, malformed_share=0.0, fraud_share=0.0,
                      duplicate_share=0.25)
    valid = [e for e in events if e.valid]
    assert sum(1 for e in valid if e.duplicate_of) > 150

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
        shares = [scored_by(first), scored_by(second)]
        assert min(shares) > 0.2 * sum(shares), shares
        def links() -> dict[str, str]:
            return dict(run_query(settings, "SELECT lead_id, duplicate_of FROM leads FINAL "
                                            "WHERE duplicate_of IS NOT NULL").rows)

        # A link missed across workers is re-sent a mirror delay after both originals.
        expected_links = one_worker_links(settings, events)
        wait_until(lambda: links() == expected_links, timeout=30)
        linked = links()
        wrong = {lead for lead in linked.keys() | expected_links.keys()
                 if linked.get(lead) != expected_links.get(lead)}
        assert not wrong, f"{len(wrong)} of {len(expected_links)} links differ from one worker's"
        assert not set(linked.values()) & set(linked)  # every link points at an original
    finally:
        second.stop()
        first.stop()
