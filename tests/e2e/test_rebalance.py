"""E5: one worker, then two in the same group, then one again, under a steady stream.

- `make test` and `make chaos`: 0 lost, 0 duplicated across both rebalances.
- `make chaos`: the stateful answers (dedupe links, fraud quarantine) must also equal those of
  one uninterrupted worker on the same events. Each worker mirrors the whole dedupe table
  and re-sends links missed across workers; fraud velocity is still counted per worker
  (docs/scaling.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings
from infra.warehouse.query import run_query
from schemas.contract import SOURCES
from streams.traffic.generator import GeneratedEvent, generate
from tests.e2e.conftest import ScenarioTable, size
from tests.e2e.counts import Produced, Tally, settle
from tests.e2e.stack import PrivateStack
from tests.e2e.traffic import SteadyStream
from tests.integration.harness import WorkerProcess, free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1500)]

RATE = 250.0
ANSWERS = ("SELECT lead_id, ifNull(duplicate_of, ''), quarantined FROM leads FINAL "
           "ORDER BY lead_id")


def stateful_traffic(count: int) -> list[GeneratedEvent]:
    return generate(count, sources=SOURCES, seed=505, malformed_share=0.03,
                    duplicate_share=0.05, fraud_share=0.02)


def rebalanced(settings: Settings, events: list[GeneratedEvent], logs: Path
               ) -> tuple[Tally, list[tuple]]:
    """Run `events` through 1 → 2 → 1 workers; the count and the stateful answers."""
    first = WorkerProcess(settings, logs / "first.log")
    second = WorkerProcess(settings.model_copy(update={
        "state_dir": logs / "second-state", "worker_web_port": free_port()}),
        logs / "second.log")
    first.start(timeout=120)
    # Outcomes too: partitions move while lessons wait for a checkpoint (agents/lessons.py).
    stream = SteadyStream(settings, events, rate=RATE, outcome_every=5).start()
    try:
        stream.wait(8)
        second.start(timeout=180)  # 1 → 2: partitions and their tables move
        stream.wait(10)
        second.stop()  # 2 → 1: they come back
        stream.join()
        result = settle(settings, Produced.of(events))
        return result, run_query(settings, ANSWERS).rows
    finally:
        second.stop()
        first.stop()


def test_e5_rebalance_one_two_one(
    run_settings: Settings, scenario_table: ScenarioTable, tmp_path: Path
) -> None:
    events = stateful_traffic(size(3_000, 20_000))
    result, _ = rebalanced(run_settings, events, tmp_path)
    scenario_table.add(len(events), "1→2→1 workers", result)
    assert result.exact, result.verdict()


@pytest.mark.chaos
def test_e5_state_follows_its_partitions(
    private_stack: PrivateStack, run_settings: Settings, scenario_table: ScenarioTable,
    tmp_path: Path,
) -> None:
    events = stateful_traffic(size(8_000, 10_000))
    result, answers = rebalanced(run_settings, events, tmp_path)

    # The same events through one worker that nothing interrupts.
    reference = private_stack.run(tmp_path / "reference")
    alone = WorkerProcess(reference, tmp_path / "reference.log")
    alone.start(timeout=120)
    try:
        SteadyStream(reference, events, rate=RATE).start().join()
        settle(reference, Produced.of(events))
        expected = run_query(reference, ANSWERS).rows
    finally:
        alone.stop()
        private_stack.drop(reference)
    differ = [(a, b) for a, b in zip(answers, expected, strict=False) if a != b]
    same = len(answers) == len(expected) and not differ
    links = sum(a[1] != b[1] for a, b in differ)
    verdicts = sum(a[2] != b[2] for a, b in differ)
    scenario_table.add(len(events), f"1→2→1 workers; {len(differ)} stateful answers differ "
                       f"({links} dedupe links, {verdicts} fraud verdicts)", result,
                       extra_ok=same)
    assert result.exact, result.verdict()
    assert same, (f"{len(differ)} leads answered differently ({links} dedupe links, "
                  f"{verdicts} fraud verdicts), e.g. {differ[:3]}")
