"""Stateful features on real Kafka: every family reaches the scored lead, and the feature
stores written behind into their Faust tables come back after a worker restart."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.demo.produce import produce as produce_traffic
from infra.settings import Settings
from infra.warehouse.query import run_query
from tests.integration.harness import WorkerProcess, free_port, scalar, wait_until

pytestmark = pytest.mark.integration

COUNT = 200
FAMILIES = ("beh_score", "geo_density_cell", "comp_nearest_km", "clu_size", "mkt_price_rel",
            "pen_hhi")


@pytest.fixture
def settings(tmp_path: Path, server_url: str) -> Settings:
    run = uuid.uuid4().hex[:10]
    return Settings(
        clickhouse_url=server_url.rsplit("/", 1)[0] + f"/aiqleads_f{run}",
        state_dir=tmp_path / "state",
        topic_prefix=f"f{run}.",
        worker_web_port=free_port(),
        land_batch_seconds=0.2,
    )


def _feature(name: str) -> str:
    return f"features_values[indexOf(features_keys, '{name}')]"


def _originals(settings: Settings, where: str) -> int:
    return scalar(settings, "SELECT count() FROM leads FINAL WHERE duplicate_of IS NULL "
                            f"AND NOT quarantined AND h3_r8 != 0 AND {where}")


def _send(settings: Settings, *, engagement: bool, at: datetime) -> int:
    # One clock for both runs: the generator's duplicates depend on it, and the second
    # run must re-send the very same events.
    summary = produce_traffic(settings, sources=("portal", "facebook"), rate=0, count=COUNT,
                              seed=11, malformed_share=0.0, outcome_delay=None,
                              engagement=engagement, now=lambda: at)
    assert summary.failed == 0
    return summary.expected["valid"]


def test_feature_stores_feed_scoring_and_survive_a_restart(
    settings: Settings, tmp_path: Path
) -> None:
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        at = datetime.now(UTC)
        valid = _send(settings, engagement=True, at=at)
        assert wait_until(lambda: scalar(settings, "SELECT count() FROM leads FINAL") == valid,
                          timeout=120), worker.log_tail()
        # Every family is on every scored lead's snapshot, whatever the lead.
        for name in FAMILIES:
            assert scalar(settings, f"SELECT countIf(NOT has(features_keys, '{name}')) "
                                    "FROM leads FINAL") == 0, name
        # The people's engagement reached some of their leads' scores (topics race, so some).
        assert scalar(settings, f"SELECT countIf({_feature('beh_events_7d')} > 0) "
                                "FROM leads FINAL") > 0
        # Stop gracefully (the final flush), then send the very same leads again.
        worker.stop()
        worker.start()
        # The tables came back through the bulk read (`agents.table_store`), not Faust's path.
        reads = re.findall(r"read (\d+) changelog records", worker.log_path.read_text())
        assert reads and int(reads[-1]) > 0, worker.log_tail()
        first = scalar(settings, "SELECT max(scored_ms) FROM leads FINAL")
        assert _send(settings, engagement=False, at=at) == valid
        assert wait_until(
            lambda: scalar(settings, f"SELECT countIf(scored_ms > {first}) FROM leads FINAL")
            == valid, timeout=120), worker.log_tail()
        # Each original was counted in its cell and as its person's inquiry before the
        # restart: a store that came back empty would give the first of each a zero.
        located = _originals(settings, "1")
        assert located > COUNT // 2
        assert _originals(settings, f"{_feature('geo_density_cell')} > 0") == located
        assert _originals(settings, f"{_feature('beh_events_7d')} > 0") == located
    finally:
        worker.stop()
        run_query(settings.model_copy(update={"clickhouse_url": settings.clickhouse_url
                                              .rsplit("/", 1)[0] + "/default"}),
                  f"DROP DATABASE IF EXISTS {settings.clickhouse_url.rsplit('/', 1)[1]}")
