"""Per-lead cost of scoring with reason codes, and per-outcome cost of learning, in process.

Features come from generated traffic through the real ingest path; a champion and a
challenger (the default LR spec, 10 % split) are warmed on 5,000 labels, then each of
5,000 fresh leads is timed alone: `Scorer.score_one` with 3 reason codes (one transform
for score and reasons), the same without reasons, River's bare
`predict_proba_one` for comparison, and `Scorer.learn_one` (both arms predict for
their metrics and learn). Run: `make bench`, or `.venv/bin/python -m tests.bench.bench_scoring`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest

from streams.scoring.arms import Scorer
from streams.scoring.model import Features
from streams.traffic.labelled import scored_traffic

pytestmark = pytest.mark.bench

SPEC = "StandardScaler|LogisticRegression"
WARM = 5_000
TIMED = 5_000


def _timed(calls: list[Callable[[], object]]) -> tuple[float, float]:
    clock = time.perf_counter_ns
    spent = []
    for call in calls:
        started = clock()
        call()
        spent.append(clock() - started)
    spent.sort()
    return statistics.median(spent) / 1000, spent[int(len(spent) * 0.99)] / 1000


def run() -> tuple[dict[str, tuple[float, float]], int]:
    source = Scorer.from_specs(SPEC)  # only to produce the features through ingest_one
    rows = list(scored_traffic(source, WARM + TIMED, seed=11))
    scorer = Scorer.from_specs(SPEC, SPEC, challenger_share=0.1, reason_codes=3)
    for row in rows[:WARM]:
        scorer.learn_one(row.features, row.converted)
    fresh = rows[WARM:]
    leads: list[tuple[str, Features]] = [(f"portal:{i}", r.features) for i, r in enumerate(fresh)]
    pipeline = scorer.champion.model.pipeline
    quiet = Scorer.loads(scorer.dumps())
    quiet.configure(challenger_share=0.1, reason_codes=0)
    table = {
        "River predict_proba_one (no reasons)": _timed(
            [lambda x=x: pipeline.predict_proba_one(x) for _, x in leads]),
        "Scorer.score_one, no reasons": _timed(
            [lambda i=i, x=x: quiet.score_one(i, x) for i, x in leads]),
        "Scorer.score_one + 3 reason codes": _timed(
            [lambda i=i, x=x: scorer.score_one(i, x) for i, x in leads]),
        "Scorer.learn_one (2 arms: judge + learn)": _timed(
            [lambda r=r: scorer.learn_one(r.features, r.converted) for r in fresh]),
    }
    return table, len(leads[0][1])


def render(table: dict[str, tuple[float, float]], n: int) -> str:
    lines = [f"Scoring cost per lead, {n} features, {TIMED} leads (µs)",
             "| operation | median µs | p99 µs |", "|---|---|---|"]
    lines += [f"| {name} | {med:.1f} | {p99:.1f} |" for name, (med, p99) in table.items()]
    return "\n".join(lines)


def test_scoring_cost() -> None:
    table, n = run()
    print("\n\n" + render(table, n))
    assert table["Scorer.score_one + 3 reason codes"][1] < 1000  # p99 well under 1 ms


if __name__ == "__main__":
    print(render(*run()))
