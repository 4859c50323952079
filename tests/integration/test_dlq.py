"""DLQ replay after a fix, on real services: lands the fixed records once, resolves their dead
letters, renews the ones still broken, and a second replay changes nothing.

The "bug" is a too-strict age limit: a worker with `AIQ_MAX_LEAD_AGE_DAYS=1` files 3-day-old
leads as `too_old`; the fix is restarting it with 30 days. 40-day-old leads stay too old.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.cli import main
from infra.ops import dlq
from infra.settings import Settings
from infra.warehouse.query import run_query
from schemas.contract import SOURCES
from streams.traffic.generator import GeneratedEvent, generate
from tests.integration.harness import (
    WorkerProcess,
    produce,
    scalar,
    settings_env,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(worker_settings: Settings) -> Settings:
    return worker_settings


def _garbage(n: int) -> list[GeneratedEvent]:
    return [GeneratedEvent(source="portal", key=None, value=b'{"inquiry_id": "x%d",' % i,
                           lead_id=None, expected="bad_json", p=0.0, event_ms=0)
            for i in range(n)]


def _dlq_state(settings: Settings) -> dict[tuple[str, str], int]:
    """(reason, status) → rows, newest version per origin."""
    result = run_query(settings, "SELECT reason, status, count() FROM dlq FINAL "
                                 "GROUP BY reason, status")
    return {(reason, status): n for reason, status, n in result.rows}


def _renewed_since(settings: Settings, since_ms: int) -> int:
    """Open too_old dead letters filed (again) after `since_ms`."""
    return scalar(settings, "SELECT count() FROM (SELECT status, reason, received_ms FROM dlq "
                            f"FINAL) WHERE status = 'open' AND reason = 'too_old' "
                            f"AND received_ms > {since_ms}")


def _leads(settings: Settings) -> tuple[int, int]:
    """Leads after FINAL, and distinct lead ids over every physical row."""
    return (scalar(settings, "SELECT count() FROM leads FINAL"),
            scalar(settings, "SELECT uniqExact(lead_id) FROM leads"))


def test_replay_after_a_fix_lands_each_record_once_and_resolves_it(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    # All five sources: replay must carry what the parsers read from headers too
    # (a partner's id, a webform's content type).
    good = generate(40, sources=SOURCES, seed=31, malformed_share=0.0, now=now)
    stale = generate(30, sources=SOURCES, seed=32, malformed_share=0.0,
                     now=now - timedelta(days=3))
    ancient = generate(10, sources=SOURCES, seed=33, malformed_share=0.0,
                       now=now - timedelta(days=40))
    garbage = _garbage(5)
    good_ids, stale_ids = {e.lead_id for e in good}, {e.lead_id for e in stale}
    assert len(good_ids) == 40 and len(stale_ids) == 30
    assert {e.source for e in stale} == set(SOURCES)

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    monkeypatch.setenv("AIQ_MAX_LEAD_AGE_DAYS", "1")  # the bug
    worker.start()
    try:
        produce(settings, [*good, *stale, *ancient, *garbage])
        before = {("too_old", "open"): 40, ("bad_json", "open"): 5}
        assert wait_until(
            lambda: _leads(settings)[0] == 40 and _dlq_state(settings) == before, timeout=120
        ), (_leads(settings), _dlq_state(settings), worker.log_tail())
        worker.stop()

        monkeypatch.setenv("AIQ_MAX_LEAD_AGE_DAYS", "30")  # the fix
        worker.start()
        preview = dlq.replay(settings, reason="too_old", dry_run=True)
        assert (preview.selected, preview.sent) == (40, 0)

        # Replay twice back to back: the second sees the same records still open and sends
        # them again; neither leads nor dead letters may double.
        started_ms = int(time.time() * 1000)
        first = dlq.replay(settings, reason="too_old")
        second = dlq.replay(settings, reason="too_old")
        assert first.ok and first.sent == 40, first.render()
        assert second.ok and second.sent >= 10, second.render()

        after = {("too_old", "resolved"): 30, ("too_old", "open"): 10, ("bad_json", "open"): 5}
        assert wait_until(
            lambda: _leads(settings) == (70, 70) and _dlq_state(settings) == after
            and _renewed_since(settings, started_ms) == 10,
            timeout=120,
        ), (_leads(settings), _dlq_state(settings), worker.log_tail())
        ids = set(run_query(settings, "SELECT lead_id FROM leads FINAL").column("lead_id"))
        assert ids == good_ids | stale_ids

        # The resolved dead letters are exactly the fixed records; the still-open too_old
        # ones exactly the ancient records, filed under their first origin.
        rows = run_query(settings, "SELECT raw, status, detail FROM dlq FINAL "
                                   "WHERE reason = 'too_old'").rows
        by_status: dict[str, set[bytes]] = {}
        for raw, status, _detail in rows:
            by_status.setdefault(status, set()).add(raw.encode() if isinstance(raw, str) else raw)
        assert by_status["resolved"] == {e.value for e in stale}
        assert by_status["open"] == {e.value for e in ancient}
        assert all("lead " in d for _r, s, d in rows if s == "resolved")

        counts = dlq.counts(settings, reason="too_old")
        assert counts.rows[-1] == ("total", "", 10, 30, 40)

        # Once more through the CLI: only the 10 still-broken records go; nothing changes.
        env = {**settings_env(settings), "AIQ_MAX_LEAD_AGE_DAYS": "30"}
        runner = CliRunner()
        again_ms = int(time.time() * 1000)
        result = runner.invoke(main, ["dlq", "replay", "--reason", "too_old"], env=env)
        assert result.exit_code == 0, result.output
        assert "replayed 10 of 10 open dead letters" in result.output
        assert wait_until(lambda: _renewed_since(settings, again_ms) == 10, timeout=120), (
            worker.log_tail())
        assert _leads(settings) == (70, 70)
        assert _dlq_state(settings) == after

        listed = runner.invoke(main, ["dlq", "list", "--reason", "too_old", "--status", "all",
                                      "--limit", "100"], env=env)
        assert listed.exit_code == 0, listed.output
        assert "(40 rows)" in listed.output and "resolved" in listed.output, listed.output
        counted = runner.invoke(main, ["dlq", "counts"], env=env)
        assert counted.exit_code == 0 and "bad_json" in counted.output, counted.output
    finally:
        worker.stop()

