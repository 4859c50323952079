"""E5: one worker, then two in the same group, then one again, under a steady stream.

- `make test` and `make chaos`: 0 lost, 0 duplicated across both rebalances.
- `make chaos`: the stateful answers must match those of one uninterrupted worker on the same
  events: every dedupe link exactly (each worker mirrors the whole dedupe table and re-sends
  links missed across workers, reading back from the warehouse the leads of a worker that
  has left), the fraud screen's precision and recall against the
  generator's labels within 0.01 (its velocity is still counted per worker, so single
  verdicts may differ; docs/scaling.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings
from infra.warehouse.query import run_query
from schemas.contract import SOURCES
from streams.fraud.quality import precision_recall
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
    assert [row[0] for row in answers] == [row[0] for row in expected]
    links = [(a[0], a[1], b[1]) for a, b in zip(answers, expected, strict=True) if a[1] != b[1]]
    verdicts = sum(a[2] != b[2] for a, b in zip(answers, expected, strict=True))
    fraud = {e.lead_id: e.fraud is not None for e in events if e.lead_id}
    rebalanced_pr, alone_pr = (precision_recall((fraud[row[0]], bool(row[2])) for row in rows)
                               for rows in (answers, expected))
    close = all(abs(a - b) <= 0.01 for a, b in zip(rebalanced_pr, alone_pr, strict=True))
    scenario_table.add(len(events), f"1→2→1 workers; {len(links)} dedupe links and {verdicts} "
                       "fraud verdicts differ; precision/recall "
                       f"{rebalanced_pr[0]:.3f}/{rebalanced_pr[1]:.3f} against "
                       f"{alone_pr[0]:.3f}/{alone_pr[1]:.3f}", result,
                       extra_ok=not links and close)
    assert result.exact, result.verdict()
    assert not links, f"{len(links)} dedupe links differ (lead, got, one worker's): {links[:3]}"
    assert close, (rebalanced_pr, alone_pr, verdicts)
