"""In-process cost of the behaviour book: `observe_event` per engagement event, `features`
(+ `observe`) per lead, on generated traffic with its generated engagement.

Median and p99 µs per call, one core. `decode` is `decode_event` (msgspec + contact
normalisation), paid by the behaviour agent per event. Run: `make bench`, or
`.venv/bin/python -m tests.bench.bench_behaviour`.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime

import pytest

from schemas.codec import encode
from streams.enrich import enrich
from streams.features.behaviour import BehaviourBook, decode_event
from streams.parse.registry import parse, warm
from streams.traffic.engagement import ENGAGEMENT_SEED_SALT, engagement_for
from streams.traffic.generator import generate

pytestmark = pytest.mark.bench

LEADS = 5_000


def _us(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def run(count: int = LEADS) -> dict[str, tuple[int, float, float]]:
    warm()
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    events = [e for e in generate(count, sources=("portal", "facebook", "webform"), seed=31,
                                  malformed_share=0.0, duplicate_share=0.05, now=now) if e.valid]
    rng = random.Random(31 ^ ENGAGEMENT_SEED_SALT)
    raw = [encode(x) for e in events for x in engagement_for(e, rng)]
    leads = [parse(e.source, e.value, now, headers=e.headers) for e in events]
    clock = time.perf_counter_ns
    book = BehaviourBook()

    decode_ns, observe_ns = [], []
    decoded = []
    for value in raw:
        started = clock()
        engagement = decode_event(value)
        decode_ns.append(clock() - started)
        decoded.append(engagement)
    for engagement in decoded:
        started = clock()
        book.observe_event(engagement)
        observe_ns.append(clock() - started)

    features_ns, with_state_ns, lead_ns = [], [], []
    for lead in leads:
        cells = enrich(lead)
        started = clock()
        features = book.features(lead, cells, now_ms)
        middle = clock()
        book.observe(lead, cells, now_ms)
        ended = clock()
        features_ns.append(middle - started)
        if features["beh_events_7d"] > 0:
            with_state_ns.append(middle - started)
        lead_ns.append(ended - started)
    return {
        "decode_event (per engagement event)": (len(decode_ns), *_us(decode_ns)),
        "observe_event (per engagement event)": (len(observe_ns), *_us(observe_ns)),
        "features (per lead)": (len(features_ns), *_us(features_ns)),
        "features, leads with engagement": (len(with_state_ns), *_us(with_state_ns)),
        "features + observe (per lead)": (len(lead_ns), *_us(lead_ns)),
    }


def render(table: dict[str, tuple[int, float, float]]) -> str:
    lines = ["| operation | calls | median µs | p99 µs |", "|---|---|---|---|"]
    lines += [f"| {name} | {n} | {median:.2f} | {p99:.2f} |"
              for name, (n, median, p99) in table.items()]
    return "\n".join(lines)


def test_behaviour_book_cost() -> None:
    table = run()
    print("\n\nBehaviour book, in process (make bench)\n" + render(table))
    assert table["features (per lead)"][0] > 0.9 * LEADS


if __name__ == "__main__":
    print(render(run()))
