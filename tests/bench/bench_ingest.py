"""In-process cost of the whole fused ingest stage, per source and mixed.

parse → validate → H3 → dedupe → fraud screen → features → score on generated
traffic (all five sources, 3 % malformed, 5 % fraud, 3 % duplicates), one core, no
Kafka. Run: `make bench`, or `.venv/bin/python -m tests.bench.bench_ingest`.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from infra.settings import SOURCES
from streams.errors import LeadRejected
from streams.fraud import FraudScreen
from streams.ingest import IngestLimits, IngestState, ingest_one
from streams.model import ConversionModel
from streams.parse import warm
from streams.traffic import generate

pytestmark = pytest.mark.bench

EVENTS = 20_000


def run(count: int = EVENTS) -> dict[str, tuple[int, float]]:
    warm()
    now = datetime.now(UTC)
    events = generate(count, sources=SOURCES, seed=77, malformed_share=0.03, fraud_share=0.05,
                      duplicate_share=0.03, now=now)
    state = IngestState(model=ConversionModel(), screen=FraudScreen(), first_lead_by_contact={})
    limits = IngestLimits()
    # Lazy tables (partners, area codes, phone metadata) load on first use: not per-event cost.
    for event in generate(500, sources=SOURCES, seed=78, malformed_share=0.03, now=now):
        with contextlib.suppress(LeadRejected):
            ingest_one(event.source, event.value, received=now, produced_ms=0, limits=limits,
                       state=state, headers=event.headers)
    spent: dict[str, float] = defaultdict(float)
    seen: dict[str, int] = defaultdict(int)
    clock = time.perf_counter_ns
    for event in events:
        started = clock()
        with contextlib.suppress(LeadRejected):
            ingest_one(event.source, event.value, received=now, produced_ms=0, limits=limits,
                       state=state, headers=event.headers)
        spent[event.source] += clock() - started
        seen[event.source] += 1
    table = {source: (seen[source], spent[source] / seen[source] / 1000) for source in seen}
    table["all"] = (sum(seen.values()), sum(spent.values()) / sum(seen.values()) / 1000)
    return table


def render(table: dict[str, tuple[int, float]]) -> str:
    lines = ["| source | events | µs/event | events/s per core |", "|---|---|---|---|"]
    for source, (n, us) in sorted(table.items(), key=lambda kv: kv[0] == "all"):
        lines.append(f"| {source} | {n} | {us:.1f} | {1e6 / us:,.0f} |")
    return "\n".join(lines)


def test_ingest_stage_cost() -> None:
    table = run()
    print("\n\nFused ingest stage, in process (make bench)\n" + render(table))
    assert table["all"][0] == EVENTS


if __name__ == "__main__":
    print(render(run()))
