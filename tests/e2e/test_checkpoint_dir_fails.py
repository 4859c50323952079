"""E7: the state directory for checkpoints turns read-only, then the disk fills up.

Each is a clear error in the worker's log and on `/readyz` (503 with the reason) while the
worker keeps landing; once writes work again it is ready again, a SIGKILL then restores
from the last good checkpoint, and nothing is lost or learned twice.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agents.worker import SCREEN_CHECKPOINT
from infra.settings import Settings
from tests.e2e.conftest import ScenarioTable, size
from tests.e2e.counts import Produced, settle
from tests.e2e.test_worker_kills import labels_by_arm
from tests.e2e.traffic import SteadyStream, all_sources
from tests.integration.harness import WorkerProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.chaos,
              pytest.mark.timeout(1200)]

RATE = 150.0
CHECKPOINT_WAIT = 90.0  # the checkpoint timers fire every 30 s


def readyz(settings: Settings) -> tuple[int, dict]:
    response = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/readyz", timeout=10)
    return response.status_code, response.json()


def checkpoints_ok(settings: Settings) -> bool:
    """The checkpoints' check of /readyz (its other checks are not what this scenario breaks)."""
    return bool(readyz(settings)[1]["checks"]["checkpoints"]["ok"])


def test_e7_checkpoint_dir_read_only_then_full(
    run_settings: Settings, scenario_table: ScenarioTable, tmp_path: Path
) -> None:
    events = all_sources(size(20_000, 20_000), seed=707)
    produced = Produced.of(events)
    models = run_settings.state_dir / "models"
    worker = WorkerProcess(run_settings, tmp_path / "worker.log")
    worker.start(timeout=120)
    stream = SteadyStream(run_settings, events, rate=RATE, outcome_every=5).start()
    reports: list[dict] = []
    try:
        assert wait_until(lambda: models.is_dir() and any(models.iterdir()), CHECKPOINT_WAIT)
        # Read-only: the directory is swapped for one nobody may write (root included).
        aside = models.with_name("models.aside")
        models.rename(aside)
        models.symlink_to("/sys/kernel")
        assert wait_until(lambda: not checkpoints_ok(run_settings), CHECKPOINT_WAIT), \
            worker.log_tail()
        reports.append(readyz(run_settings)[1])
        models.unlink()
        aside.rename(models)
        assert wait_until(lambda: checkpoints_ok(run_settings), CHECKPOINT_WAIT)

        # Full: the fraud screen's next temporary file is on a full device.
        tmp = models / f".{run_settings.topic_prefix}{SCREEN_CHECKPOINT}.pkl.tmp"
        tmp.symlink_to("/dev/full")
        assert wait_until(lambda: not checkpoints_ok(run_settings), CHECKPOINT_WAIT)
        reports.append(readyz(run_settings)[1])
        assert wait_until(lambda: checkpoints_ok(run_settings), CHECKPOINT_WAIT)

        worker.kill()  # restores from the last good checkpoints
        worker.start(timeout=180)
        stream.join()
        result = settle(run_settings, produced)
        outcomes = len(stream.outcomes_acked)
        learned = wait_until(lambda: labels_by_arm(run_settings) == {
            "champion": outcomes, "challenger": outcomes}, timeout=120)
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text(errors="replace")
    said = ("Permission denied" in log and "No space left on device" in log
            and "cannot write checkpoint" in log)
    scenario_table.add(len(events), "checkpoint dir read-only, then full; SIGKILL", result,
                       extra_ok=learned and said)
    assert result.exact, result.verdict()
    assert [r["status"] for r in reports] == ["not ready"] * 2, reports
    assert [r["checks"]["checkpoints"]["ok"] for r in reports] == [False, False], reports
    assert "Permission denied" in str(reports[0]) and "No space left" in str(reports[1])
    assert said, "the log does not name the failed checkpoint writes"
    assert learned, labels_by_arm
