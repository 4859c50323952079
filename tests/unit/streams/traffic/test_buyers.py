"""Simulated buyer interactions: deterministic, causal, and driven by fit and true p."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime

import h3.api.basic_int as h3
import msgspec

from schemas.lead import ScoredLead
from schemas.market import Buyer, BuyerInteraction
from streams.serve.ranking import BuyerIndex
from streams.traffic.buyers import simulate_interactions, taste

T0 = 1_770_000_000_000
HOME = (41.4993, -81.6944)
CELL = h3.latlng_to_cell(*HOME, 7)
TYPES = ("single_family", "condo", "townhouse")


def leads(n: int = 600, seed: int = 1) -> list[tuple[ScoredLead, float]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        event_ms = T0 + i * 60_000
        when = datetime.fromtimestamp(event_ms / 1000, UTC)
        lead = ScoredLead(
            lead_id=f"portal:{i}", source="portal", source_lead_id=str(i), event_time=when,
            received_time=when, intent="buy", property_type=rng.choice(TYPES),
            # Half inside every buyer's band, half far above it (low fit).
            price=250_000.0 if rng.random() < 0.5 else 1_200_000.0, lat=HOME[0], lon=HOME[1],
            location_precision="exact", h3_r7=CELL, score=0.1, scored_ms=event_ms,
            quarantined=rng.random() < 0.05,
        )
        out.append((lead, rng.choice([0.02, 0.3])))
    return out


def index() -> BuyerIndex:
    return BuyerIndex(Buyer(buyer_id=f"buyer-{i:04d}", brokerage_id=f"brk-{i % 2}",
                            cells_r7=[CELL], price_min=150_000.0, price_max=400_000.0)
                      for i in range(1, 9))


def simulate(seed: int = 5) -> tuple[list[tuple[ScoredLead, float]], list[BuyerInteraction]]:
    offered = leads()
    return offered, simulate_interactions(offered, index(), seed=seed)


def test_the_same_seed_gives_the_same_interactions() -> None:
    first, second = simulate()[1], simulate()[1]
    assert msgspec.json.encode(first) == msgspec.json.encode(second)
    assert msgspec.json.encode(simulate(seed=6)[1]) != msgspec.json.encode(first)


def test_interactions_come_in_time_order_after_the_lead_was_scored() -> None:
    offered, interactions = simulate()
    scored = {lead.lead_id: lead.scored_ms for lead, _ in offered}
    times = [i.occurred_ms for i in interactions]
    assert times == sorted(times)
    assert all(i.occurred_ms > scored[i.lead_id] for i in interactions)
    assert all(i.h3_r7 == CELL and i.brokerage_id.startswith("brk-") for i in interactions)


def test_each_buyers_story_with_a_lead_follows_the_funnel() -> None:
    _, interactions = simulate()
    stories: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i in interactions:
        stories[(i.buyer_id, i.lead_id)].append(i.kind)
    allowed = {("view",), ("view", "save"), ("view", "hold", "release"),
               ("view", "save", "hold", "release"), ("view", "hold", "purchase"),
               ("view", "save", "hold", "purchase"), ("view", "hold", "purchase", "return"),
               ("view", "save", "hold", "purchase", "return")}
    assert set(map(tuple, stories.values())) <= allowed
    kinds = Counter(i.kind for i in interactions)
    assert kinds["view"] > kinds["save"] > 0
    assert kinds["purchase"] > kinds["return"] > 0


def test_a_lead_is_bought_once_at_most_and_quarantined_leads_are_never_offered() -> None:
    offered, interactions = simulate()
    purchases = Counter(i.lead_id for i in interactions if i.kind == "purchase")
    assert purchases and max(purchases.values()) == 1
    quarantined = {lead.lead_id for lead, _ in offered if lead.quarantined}
    assert quarantined
    assert not quarantined & {i.lead_id for i in interactions}
    priced = [i for i in interactions if i.kind == "purchase"]
    assert all(i.amount is not None and i.amount >= 20.0 for i in priced)


def test_buyers_act_more_on_leads_that_fit_and_buy_more_of_those_that_convert() -> None:
    offered, interactions = simulate()
    price = {lead.lead_id: lead.price for lead, _ in offered}
    p = {lead.lead_id: q for lead, q in offered}
    views = Counter(price[i.lead_id] for i in interactions if i.kind == "view")
    assert views[250_000.0] > 1.5 * views[1_200_000.0]  # in band vs far above it
    bought = Counter(p[i.lead_id] for i in interactions if i.kind == "purchase")
    offered_by_p = Counter(q for lead, q in offered if not lead.quarantined)
    assert bought[0.3] / offered_by_p[0.3] > 2 * bought[0.02] / offered_by_p[0.02]


def test_hidden_tastes_are_stable_and_varied() -> None:
    assert taste("buyer-0001", 5) == taste("buyer-0001", 5)
    assert len({taste(f"buyer-{i:04d}", 5) for i in range(1, 60)}) == 5
