"""The dedupe table forgets expired originals on a timer, in a real worker.

The timer deletes table keys outside any event. Faust writes a deletion's changelog
record to the current event's partition unless the table uses the producer's
partitioner, so without it every sweep raised TypeError and nothing was forgotten.
Here the window is a few seconds: every original the worker stored must come back
as a tombstone on the table's changelog topic.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.traffic.generator import generate
from tests.integration.harness import changelog, landed_by_worker, own_settings, wait_until

pytestmark = pytest.mark.integration

WINDOW_HOURS = 0.001  # 3.6 s: the worker sweeps every second


def test_expired_originals_are_deleted_from_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = own_settings(tmp_path, monkeypatch, "s", dedupe_window_hours=WINDOW_HOURS)
    events = generate(6, sources=("portal",), seed=53, malformed_share=0.0, fraud_share=0.0,
                      duplicate_share=0.0)
    worker = landed_by_worker(settings, events, tmp_path / "worker.log")
    try:
        def forgotten() -> bool:
            history = changelog(settings, "first_lead_by_contact")
            return len(history) >= len(events) and all(v[-1] is None for v in history.values())

        assert wait_until(forgotten, timeout=60, interval=1.0), worker.log_tail()
        history = changelog(settings, "first_lead_by_contact")
        # One original per contact (email, phone) of each lead, each written, then deleted.
        assert all(values[0] is not None and values[-1] is None
                   for values in history.values()), (history, worker.log_tail())
        log = (tmp_path / "worker.log").read_text(errors="replace")
        assert "Cannot modify table" not in log
    finally:
        worker.stop()
