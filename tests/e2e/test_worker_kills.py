"""E1: SIGKILL the worker every few seconds under a steady stream from all five sources."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agents.models import ScorerCheckpoints
from infra.settings import Settings
from tests.e2e.conftest import ScenarioTable, size
from tests.e2e.counts import Produced, settle
from tests.e2e.traffic import SteadyStream, all_sources
from tests.integration.harness import WorkerProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1800)]

RATE = 400.0  # leads/s offered, about what one worker lands on two busy cores
UPTIME = 6.0  # seconds a worker runs (after it is ready) before the next SIGKILL
# Checkpoints every 12 s in the short form (30, the default, at full size): the first kill
# waits for the first one, and a worker killed UPTIME after it is ready has written none.
CHECKPOINT_SECONDS = float(size(12, 30))
CHECKPOINT_WAIT = 90.0


def test_e1_worker_sigkilled_every_few_seconds(
    run_settings: Settings, scenario_table: ScenarioTable, tmp_path: Path
) -> None:
    run_settings = run_settings.model_copy(update={"checkpoint_seconds": CHECKPOINT_SECONDS})
    events = all_sources(size(12_000, 100_000), seed=101)
    produced = Produced.of(events)
    worker = WorkerProcess(run_settings, tmp_path / "worker.log")
    worker.start(timeout=120)
    stream = SteadyStream(run_settings, events, rate=RATE, outcome_every=5).start()
    kills = 0
    try:
        # Kill while the stream runs, and once more with the backlog it leaves: a restart
        # with a backlog is where a skipped head offset would hide.
        # The first SIGKILL right after the scorer's first checkpoint: the lessons it
        # released are marked learned, and replaying their outcomes must not teach them
        # twice. The later ones come before any checkpoint: the held lessons are learned
        # again after the restart.
        checkpoints = ScorerCheckpoints.of(run_settings)
        assert wait_until(lambda: checkpoints.current() is not None, CHECKPOINT_WAIT), \
            worker.log_tail()
        while stream.running() or kills < 2:
            stream.wait(1.0 if kills == 0 else UPTIME)
            worker.kill()
            kills += 1
            worker.start(timeout=180)
        stream.join()
        result = settle(run_settings, produced)
        # No learning lost: every outcome taught both arms exactly once, although most
        # were learned by a worker that was killed before its next checkpoint.
        outcomes = len(stream.outcomes_acked)
        learned_all = wait_until(lambda: labels_by_arm(run_settings) == {
            "champion": outcomes, "challenger": outcomes}, timeout=120)
        labels = labels_by_arm(run_settings)
    finally:
        worker.stop()
    scenario_table.add(len(events), f"{kills} worker SIGKILLs", result, extra_ok=learned_all)
    assert result.exact, result.verdict() + "\n" + worker.log_tail()
    assert learned_all, f"labels learned {labels}, outcomes sent {outcomes}"


def labels_by_arm(settings: Settings) -> dict[str, int]:
    status = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/models", timeout=5).json()
    return {name: arm["labels"] for name, arm in status["arms"].items()}
