"""E2: the broker stops mid-run, cleanly (SIGTERM), comes back, then crashes (SIGKILL) and
comes back again; `make chaos` does each three times.

Nobody restarts the worker or the producer: both must reconnect by themselves, and every lead
whose produce was acknowledged lands exactly once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings
from tests.e2e.conftest import ScenarioTable, size
from tests.e2e.counts import settle
from tests.e2e.stack import PrivateStack
from tests.e2e.traffic import SteadyStream, all_sources
from tests.integration.harness import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1200)]

RATE = 300.0
BETWEEN = 8.0  # seconds of normal running before each fault


def test_e2_broker_restarted_mid_run(
    private_stack: PrivateStack, run_settings: Settings, scenario_table: ScenarioTable,
    tmp_path: Path,
) -> None:
    events = all_sources(size(4_000, 30_000), seed=202)
    worker = WorkerProcess(run_settings, tmp_path / "worker.log")
    worker.start(timeout=120)
    stream = SteadyStream(run_settings, events, rate=RATE).start()
    faults = [False, True] * size(1, 3)  # SIGTERM, SIGKILL, ...
    restarts: list[str] = []
    try:
        for kill in faults:
            stream.wait(BETWEEN)
            private_stack.stop("kafka", kill=kill)
            private_stack.start("kafka")
            restarts.append("SIGKILL" if kill else "SIGTERM")
        stream.join()
        assert not stream.failed, stream.failed[:3]
        result = settle(run_settings, stream.acknowledged)
        alive = worker.proc is not None and worker.proc.poll() is None
    finally:
        worker.stop()
    scenario_table.add(len(events), f"broker restarts: {', '.join(restarts)}", result,
                       extra_ok=alive)
    assert result.exact, result.verdict() + "\n" + worker.log_tail()
    assert alive, "the worker did not survive the broker restart:\n" + worker.log_tail()
