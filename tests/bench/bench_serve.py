"""Cost of the serve path: fit + expected value per lead in process, leads/s into real Redis.

Generated traffic (portal and facebook, 5 % fraud, 3 % duplicates) is parsed and
located as ingest does, scored with its hidden conversion probability (the serve path
does not care which model scored it); the bundled buyers are the candidates;
the recommender is warmed on simulated buyer interactions (`streams.traffic.buyers`),
so affinities are real lookups, not the cold shortcut. Then:

- in process, per lead: `place` (candidates, fit, affinity, EV, sort keys, card) and
  its fit + EV part alone, median and p99 µs;
- into Redis (127.0.0.1:6379 or `AIQ_REDIS_URL`, under a throwaway key prefix):
  `RedisRankings.apply` in pipelines of 500, leads/s and Redis's own CPU a lead, keys
  deleted afterwards.

Run: `pytest tests/bench/bench_serve.py -m bench -s -o 'python_files=bench_*.py'` or
`python -m tests.bench.bench_serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from infra.redis_store import RedisRankings
from schemas.lead import ScoredLead
from streams.enrich import enrich
from streams.errors import LeadRejected
from streams.parse.registry import parse, warm
from streams.serve.fit import lead_terms
from streams.serve.ranking import (
    BuyerIndex,
    Placement,
    Removal,
    expected_value,
    load_buyers,
    place,
    serve_op,
)
from streams.serve.recommender import Recommender, lead_segment
from streams.traffic.buyers import simulate_interactions
from streams.traffic.generator import generate

pytestmark = pytest.mark.bench

LEADS = 10_000
HALF_LIFE = 48.0
REDIS_URL = os.environ.get("AIQ_REDIS_URL", "redis://127.0.0.1:6379/0")


def scored_leads(count: int) -> list[tuple[ScoredLead, float]]:
    """Generated leads parsed and located as ingest does; the generator's labels stand in
    for the fraud screen and dedupe, its hidden probability for the model's score."""
    warm()
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    out = []
    for event in generate(count, sources=("portal", "facebook"), seed=91, fraud_share=0.05,
                          duplicate_share=0.03, now=now):
        with contextlib.suppress(LeadRejected):
            lead = parse(event.source, event.value, now, headers=event.headers)
            cells = enrich(lead)
            out.append((ScoredLead(
                **msgspec.structs.asdict(lead), h3_r7=cells.r7, h3_r8=cells.r8, h3_r9=cells.r9,
                score=event.p, scored_ms=now_ms, duplicate_of=event.duplicate_of,
                quarantined=event.fraud is not None), event.p))
    return out


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples_ns, n=100)
    return statistics.median(samples_ns) / 1000, cuts[98] / 1000


def run(count: int = LEADS) -> dict[str, str]:
    leads = scored_leads(count)
    index = BuyerIndex(load_buyers())
    reco = Recommender()
    segments = {lead.lead_id: lead_segment(lead) for lead, _ in leads}
    interactions = simulate_interactions(leads, index, seed=3)
    for i in interactions:
        reco.learn_one(i.buyer_id, segments[i.lead_id], i.kind)

    clock = time.perf_counter_ns
    placing, fitting = [], []
    for lead, _ in leads:
        started = clock()
        place(lead, index, reco, HALF_LIFE)
        placing.append(clock() - started)
        started = clock()
        terms, segment = lead_terms(lead), lead_segment(lead)
        for candidate in index.candidates(lead.h3_r7):
            expected_value(lead.score, candidate.fit(terms),
                           reco.affinity(candidate.buyer.buyer_id, segment))
        fitting.append(clock() - started)
    ops = [serve_op(lead, index, reco, HALF_LIFE) for lead, _ in leads]
    placements = [op for op in ops if isinstance(op, Placement)]
    seconds, redis_cpu = asyncio.run(_into_redis(ops))
    place_med, place_p99 = percentiles(placing)
    fit_med, fit_p99 = percentiles(fitting)
    ranked = sum(len(p.buyer_keys) for p in placements)
    return {
        "scored leads": f"{len(leads)} ({len(placements)} sellable)",
        "buyers / candidates per sellable lead": (
            f"{len(index)} / {ranked / max(len(placements), 1):.2f} placed"),
        "interactions learned": f"{len(interactions)}",
        "place(): candidates+fit+affinity+EV+keys+card, µs median / p99":
            f"{place_med:.1f} / {place_p99:.1f}",
        "fit + affinity + EV over candidates, µs median / p99": f"{fit_med:.1f} / {fit_p99:.1f}",
        "into Redis (pipelines of 500), leads/s": f"{len(ops) / seconds:,.0f}",
        "Redis's own CPU, µs a lead (`INFO cpu`)": f"{redis_cpu / len(ops) * 1e6:.1f}",
    }


async def _into_redis(ops: list[Placement | Removal]) -> tuple[float, float]:
    """Seconds to apply `ops`, and the CPU seconds Redis spent meanwhile (with its
    append-only file as configured: `aiqleads up` syncs every write)."""
    store = RedisRankings(REDIS_URL, prefix=f"bench{uuid.uuid4().hex[:8]}:")
    await store.start()
    try:
        cpu_before = await _redis_cpu(store)
        started = time.perf_counter()
        for start in range(0, len(ops), 500):
            await store.apply(ops[start:start + 500])
        seconds = time.perf_counter() - started
        return seconds, await _redis_cpu(store) - cpu_before
    finally:
        keys = [k async for k in store.client.scan_iter(match=f"{store.keys.prefix}*",
                                                        count=1000)]
        for start in range(0, len(keys), 1000):
            await store.client.delete(*keys[start:start + 1000])
        await store.close()


async def _redis_cpu(store: RedisRankings) -> float:
    info = await store.client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def render(table: dict[str, str]) -> str:
    rows = (f"| {k} | {v} |" for k, v in table.items())
    return "\n".join(["| serve path | |", "|---|---|", *rows])


def test_serve_path_cost() -> None:
    table = run()
    print("\n\nServe path (make bench)\n" + render(table))
    assert table


if __name__ == "__main__":
    print(render(run()))
