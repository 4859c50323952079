"""Synthetic engagement: deterministic, shaped around the lead, rising with conversion p."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime

import pytest

from schemas.codec import encode
from schemas.lead import Lead
from streams.enrich import NO_CELLS
from streams.features.behaviour import BehaviourBook, decode_event
from streams.parse.registry import parse
from streams.traffic.engagement import (
    ENGAGEMENT_SEED_SALT,
    draw_engagement,
    engagement_for,
    engagement_key,
    intensity,
)
from streams.traffic.generator import GeneratedEvent, generate
from streams.traffic.ground_truth import oracle_auc

NOW = datetime(2025, 3, 4, 17, 30, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
LEAD = Lead(lead_id="lead-1", source="portal", source_lead_id="1", event_time=NOW,
            received_time=NOW, email="jane.doe@example.com", phone="+15125550134",
            listing_id="mls-9")


@pytest.fixture(scope="module")
def traffic() -> list[GeneratedEvent]:
    return generate(300, seed=21, malformed_share=0.05, fraud_share=0.03, now=NOW)


def test_the_same_seed_gives_the_same_engagement(traffic: list[GeneratedEvent]) -> None:
    def run(seed: int) -> list[list[bytes]]:
        rng = random.Random(seed ^ ENGAGEMENT_SEED_SALT)
        return [[encode(e) for e in engagement_for(event, rng)] for event in traffic]

    first = run(1)
    assert first == run(1)
    assert first != run(2)
    assert sum(map(len, first)) > len(traffic)  # not trivially empty


def test_invalid_and_fraud_leads_have_no_engagement(traffic: list[GeneratedEvent]) -> None:
    rng = random.Random(3)
    quiet = [e for e in traffic if not e.valid or e.fraud]
    assert quiet
    assert all(engagement_for(e, rng) == [] for e in quiet)


@pytest.mark.parametrize("p", [0.01, 0.07, 0.3])
def test_engagement_is_shaped_around_the_lead(p: float) -> None:
    rng = random.Random(4)
    lead_ms = NOW_MS
    for _ in range(50):
        events = draw_engagement(LEAD, p, rng)
        times = [e.occurred_ms for e in events]
        assert times == sorted(times)
        assert len({e.event_id for e in events}) == len(events)
        for e in events:
            decoded = decode_event(encode(e))  # the source's typing normalises back
            assert decoded.email in (None, LEAD.email) and decoded.phone in (None, LEAD.phone)
            assert engagement_key(e) == (f"e:{LEAD.email}" if decoded.email
                                         else f"p:{LEAD.phone}").encode()
            if e.occurred_ms > lead_ms:
                # Follow-ups: later than any arrival lag, about this lead.
                assert lead_ms + 15 * 60_000 <= e.occurred_ms < lead_ms + 23 * 3_600_000
                assert e.lead_id == LEAD.lead_id
            else:
                assert lead_ms - e.occurred_ms < 7 * 86_400_000 and e.lead_id == ""


def test_intensity_rises_with_the_true_conversion_probability() -> None:
    assert intensity(0.0) == 0.0 and intensity(0.07) == pytest.approx(1.0)
    rng = random.Random(5)
    hand_raising = {"save", "inquiry", "email_click", "call"}
    volume, raised = [], []
    for p in (0.0, 0.01, 0.07, 0.3):
        draws = [draw_engagement(LEAD, p, rng) for _ in range(300)]
        volume.append(statistics.mean(map(len, draws)))
        kinds = [e.kind for events in draws for e in events]
        raised.append(sum(k in hand_raising for k in kinds) / max(len(kinds), 1))
    assert volume[0] == 0.0
    assert volume == sorted(volume) and volume[3] > 2 * volume[2] > 4 * volume[1]
    assert raised[1] < raised[2] < raised[3]


def test_behaviour_from_generated_engagement_predicts_conversion() -> None:
    events = [e for e in generate(600, seed=22, malformed_share=0.0, now=NOW) if e.valid]
    rng = random.Random(6)
    book = BehaviourBook()
    leads: list[tuple[Lead, float]] = []
    for event in events:
        for engagement in engagement_for(event, rng):
            book.observe_event(decode_event(encode(engagement)))
        leads.append((parse(event.source, event.value, NOW, headers=event.headers), event.p))
    scores = [book.features(lead, NO_CELLS, NOW_MS)["beh_score"] for lead, _ in leads]
    median = statistics.median(p for _, p in leads)
    likelier = [p > median for _, p in leads]
    assert oracle_auc(scores, likelier) > 0.7
