"""A lead scored before a restart is still re-linked when an earlier-dated lead of the
same person and area displaces it after the restart.

The worker re-sends a displaced original from memory (`RecentLeads`) when it has it; a
restart empties that memory (as does a worker leaving the group), so the restarted
worker reads the displaced lead back from the warehouse (`Warehouse.landed_leads`)
and re-sends it linked. Without that, the lead stays an original, on sale twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.warehouse.query import run_query
from streams.traffic.generator import generate
from tests.integration.harness import (
    WorkerProcess,
    landed,
    landed_by_worker,
    own_settings,
    produce,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_an_original_scored_before_a_restart_is_relinked_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = own_settings(tmp_path, monkeypatch, "r")
    events = generate(300, sources=("portal", "webform"), seed=71, malformed_share=0.0,
                      fraud_share=0.0, duplicate_share=0.2)
    original = next(e for e in events if any(d.duplicate_of == e.lead_id for d in events))
    copy = next(e for e in events if e.duplicate_of == original.lead_id)

    # Before the restart only the copy arrives: it is the person's first lead, an original.
    worker = landed_by_worker(settings, [copy], tmp_path / "before.log")
    worker.stop()
    assert run_query(settings, "SELECT duplicate_of FROM leads FINAL").rows == [(None,)]

    after = WorkerProcess(settings, tmp_path / "after.log")
    after.start()
    try:
        produce(settings, [original])

        def answers() -> dict[str, str | None]:
            rows = run_query(settings, "SELECT lead_id, duplicate_of FROM leads FINAL").rows
            return dict(rows)

        assert wait_until(lambda: answers().get(copy.lead_id) == original.lead_id,
                          timeout=60), (answers(), after.log_tail())
        assert answers() == {original.lead_id: None, copy.lead_id: original.lead_id}
        assert landed(settings) == (2, 0)
    finally:
        after.stop()
