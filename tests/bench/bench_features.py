"""Per-lead cost of the scoring path in process: every feature family plus the score.

What a lead pays between "parsed, located, screened" and "scored": the stateless lead
features, the behaviour book, the geo/competitor/cluster/market/penetration stores
(read, then counted), and champion/challenger scoring with reason codes — the code
`streams.ingest.ingest_one` runs. Generated traffic (all five sources) with each
person's engagement; the stores and both arms are warmed on `WARM` leads whose
outcomes are learned, then `MEASURED` further leads are timed one by one. The goal
(issue 4) is p99 < 1 ms per lead. Run: `make bench`, or
`.venv/bin/python -m tests.bench.bench_features`.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from datetime import UTC, datetime

import pytest

from agents.models import fresh_scorer
from infra.settings import Settings
from schemas.contract import SOURCES
from schemas.lead import Lead
from streams.enrich import H3Cells, enrich
from streams.errors import LeadRejected
from streams.features.behaviour import BehaviourBook
from streams.features.build import FeatureStores
from streams.features.competitors import load_competitors
from streams.features.lead import lead_features
from streams.features.market_stores import MarketStores
from streams.ingest import IngestConfig
from streams.parse.registry import parse, warm
from streams.traffic.engagement import ENGAGEMENT_SEED_SALT, engagement_for
from streams.traffic.generator import generate
from streams.validate import validate
from tests.bench.bench_ingest import yardstick

pytestmark = pytest.mark.bench

WARM = 20_000
MEASURED = 10_000
CONFIG = IngestConfig()


def _leads(count: int, now: datetime) -> tuple[list[tuple[Lead, H3Cells, float]], BehaviourBook]:
    events = generate(count, sources=SOURCES, seed=31, malformed_share=0.0, now=now)
    book = BehaviourBook(session_gap_minutes=Settings().session_gap_minutes)
    rng = random.Random(31 ^ ENGAGEMENT_SEED_SALT)
    leads = []
    for event in events:
        for engagement in engagement_for(event, rng):
            book.observe_event(engagement)
        with contextlib.suppress(LeadRejected):
            lead = parse(event.source, event.value, now, headers=event.headers)
            lead = validate(lead, now, max_age=CONFIG.max_age, max_skew=CONFIG.max_skew)
            leads.append((lead, enrich(lead), event.p))
    return leads, book


def run() -> dict[str, float]:
    warm()
    settings = Settings()
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    leads, book = _leads(WARM + MEASURED, now)
    stores = FeatureStores(behaviour=book, market=MarketStores.create(
        density_window_hours=settings.density_window_hours,
        competitor_radius_km=settings.competitor_radius_km,
        market_half_life_hours=settings.market_half_life_hours,
        offices=load_competitors(settings.competitors_file),
    )).all
    scorer = fresh_scorer(settings)
    labels = random.Random(5)
    clock = time.perf_counter_ns
    times: list[float] = []
    for i, (lead, cells, p) in enumerate(leads):
        started = clock()
        x = lead_features(lead)
        for store in stores:
            x.update(store.features(lead, cells, now_ms))
        for store in stores:
            store.observe(lead, cells, now_ms)
        scorer.score_one(lead.lead_id, x)
        elapsed = (clock() - started) / 1000
        if i >= WARM:
            times.append(elapsed)
        else:
            scorer.learn_one(x, labels.random() < p)  # warm arms: real weights, real reasons
    times.sort()
    return {
        "leads": len(times),
        "features": len(x),
        "mean": statistics.fmean(times),
        "median": times[len(times) // 2],
        "p99": times[int(len(times) * 0.99)],
        "p99.9": times[int(len(times) * 0.999)],
        "yardstick": yardstick(),
    }


def render(result: dict[str, float]) -> str:
    return (
        f"features + score, {result['leads']:,.0f} leads after {WARM:,} warm-up "
        f"({result['features']:.0f} features, champion + challenger, reason codes)\n"
        f"mean {result['mean']:.1f} µs, median {result['median']:.1f} µs, "
        f"p99 {result['p99']:.1f} µs, p99.9 {result['p99.9']:.1f} µs "
        f"(yardstick {result['yardstick']:.2f} µs; 0.75 when quiet)"
    )


def test_scoring_path_cost() -> None:
    result = run()
    print("\n" + render(result))
    assert result["leads"] == MEASURED and result["features"] > 40


if __name__ == "__main__":
    print(render(run()))
