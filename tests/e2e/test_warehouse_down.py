"""E3: the warehouse goes away mid-run.

- server: ClickHouse stopped (SIGTERM) for 12 s (30 in `make chaos`), then started again;
  later SIGKILLed in the middle of inserts and started at once (an insert whose reply is
  lost is retried).
- embedded: the chdb warehouse lives inside the worker, so its process is SIGKILLed.

Nothing may be committed past the last stored batch: the backlog lands afterwards, 0 lost,
0 duplicated.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from infra.settings import Settings
from tests.e2e.conftest import ScenarioTable, size
from tests.e2e.counts import Produced, settle
from tests.e2e.stack import PrivateStack
from tests.e2e.traffic import SteadyStream, all_sources
from tests.integration.harness import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1200)]

RATE = 300.0
OUTAGE = float(size(12, 30))  # seconds the server is down


def test_e3_clickhouse_server_down_and_killed(
    private_stack: PrivateStack, run_settings: Settings, scenario_table: ScenarioTable,
    tmp_path: Path,
) -> None:
    events = all_sources(size(6_000, 30_000), seed=303)
    produced = Produced.of(events)
    worker = WorkerProcess(run_settings, tmp_path / "worker.log")
    worker.start(timeout=120)
    stream = SteadyStream(run_settings, events, rate=RATE).start()
    try:
        stream.wait(8)
        private_stack.stop("clickhouse")
        time.sleep(OUTAGE)  # the outage itself: the fault lasts this long by design
        private_stack.start("clickhouse")
        stream.wait(6)
        private_stack.stop("clickhouse", kill=True)
        private_stack.start("clickhouse")
        stream.join()
        result = settle(run_settings, produced)
        alive = worker.proc is not None and worker.proc.poll() is None
    finally:
        worker.stop()
    scenario_table.add(len(events), f"ClickHouse down {OUTAGE:.0f} s + SIGKILL", result,
                       extra_ok=alive)
    assert result.exact, result.verdict() + "\n" + worker.log_tail()
    assert alive, worker.log_tail()


@pytest.mark.chaos
def test_e3_embedded_warehouse_process_killed(
    run_settings: Settings, scenario_table: ScenarioTable, tmp_path: Path
) -> None:
    settings = run_settings.model_copy(
        update={"clickhouse_url": f"chdb://{run_settings.state_dir / 'warehouse'}"})
    events = all_sources(size(4_000, 10_000), seed=304)
    produced = Produced.of(events)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start(timeout=120)
    stream = SteadyStream(settings, events, rate=RATE).start()
    kills = 0
    try:
        while stream.running() or kills == 0:
            stream.wait(6)
            worker.kill()  # chdb dies with it, mid-insert or not
            kills += 1
            worker.start(timeout=180)
        stream.join()
        result = settle(settings, produced)  # queried through the worker's view
    finally:
        worker.stop()
    scenario_table.add(len(events), f"{kills} SIGKILLs of the chdb process", result)
    assert result.exact, result.verdict() + "\n" + worker.log_tail()
