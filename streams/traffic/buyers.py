"""Simulated buyers acting on scored leads: the `buyer.interactions` side of the demo and tests.

Contract:
- `simulate_interactions(leads, index, seed=...)` takes scored leads with their hidden
  conversion probability ``p`` (`streams.traffic.generator.GeneratedEvent.p`) and returns
  `BuyerInteraction`s in time order; the same inputs and seed give the same output.
- Only a lead's candidate buyers (`BuyerIndex`) act on it, and only sellable leads
  (`ranking.sellable`) are offered. Each candidate views it with a probability rising
  with fit; a viewer saves it (rising with fit) and holds it (rising with fit and p);
  a hold ends in a purchase (rising with p) or a release. A lead is bought at most
  once; once bought, later candidates only view and save it. A purchased lead that
  would not convert comes back as a ``return`` now and then (more often the lower p).
- Every buyer also has a hidden taste, one property type they act on more readily
  than their profile says (``taste_boost`` on holds): something only the
  recommender, not the fit, can discover.
- Times: views minutes after the lead was scored, then save, hold, purchase or
  release, and returns days later.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from schemas.lead import ScoredLead
from schemas.market import Buyer, BuyerInteraction, InteractionKind
from streams.serve.fit import lead_terms
from streams.serve.pricing import expected_lead_price
from streams.serve.ranking import BuyerIndex, created_ms, sellable

TASTE_TYPES = ("single_family", "condo", "townhouse", "multi_family", "land")
_MINUTE_MS = 60_000
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How readily simulated buyers act (probabilities per step)."""

    view_base: float = 0.1
    view_per_fit: float = 0.7
    save_base: float = 0.15
    save_per_fit: float = 0.45
    hold_base: float = 0.1
    hold_per_p: float = 4.0
    taste_boost: float = 2.0
    purchase_base: float = 0.3
    purchase_per_p: float = 5.0
    return_share: float = 0.35  # of purchases that would not convert
    mean_view_delay_min: float = 20.0


def taste(buyer_id: str, seed: int) -> str:
    """The property type a buyer secretly prefers (stable per buyer and seed)."""
    return TASTE_TYPES[zlib.crc32(f"{seed}:{buyer_id}".encode()) % len(TASTE_TYPES)]


def simulate_interactions(leads: Iterable[tuple[ScoredLead, float]], index: BuyerIndex, *,
                          seed: int, behaviour: Behaviour = Behaviour(),
                          rng: random.Random | None = None) -> list[BuyerInteraction]:
    """Interactions of the index's buyers with `leads` (each with its true p), in time order.

    `seed` fixes the buyers' hidden tastes; `rng` (default: seeded by `seed`) throws the
    dice, so a caller simulating batch after batch passes one rng for the whole run.
    """
    rng = rng or random.Random(seed)
    b = behaviour
    out: list[BuyerInteraction] = []
    for lead, p in leads:
        if not sellable(lead):
            continue
        terms = lead_terms(lead)
        start = max(lead.scored_ms, created_ms(lead))
        candidates = list(index.candidates(lead.h3_r7))
        rng.shuffle(candidates)
        sold = False
        for candidate in candidates:
            fit = candidate.fit(terms)
            if rng.random() >= b.view_base + b.view_per_fit * fit:
                continue
            buyer = candidate.buyer
            at = start + int(rng.expovariate(1.0 / b.mean_view_delay_min) * _MINUTE_MS) + 1
            out.append(_interaction(buyer, lead, "view", at))
            if rng.random() < b.save_base + b.save_per_fit * fit:
                at += int(rng.uniform(0.5, 5.0) * _MINUTE_MS)
                out.append(_interaction(buyer, lead, "save", at))
            boost = b.taste_boost if lead.property_type == taste(buyer.buyer_id, seed) else 1.0
            if sold or rng.random() >= min(1.0, (b.hold_base + b.hold_per_p * p) * fit * boost):
                continue
            at += int(rng.uniform(1.0, 10.0) * _MINUTE_MS)
            out.append(_interaction(buyer, lead, "hold", at))
            at += int(rng.uniform(2.0, 30.0) * _MINUTE_MS)
            if rng.random() >= min(1.0, b.purchase_base + b.purchase_per_p * p):
                out.append(_interaction(buyer, lead, "release", at))
                continue
            sold = True
            out.append(_interaction(buyer, lead, "purchase", at, expected_lead_price(lead.price)))
            # A lead that does not convert (probability 1 - p) is sometimes sent back.
            if rng.random() >= p and rng.random() < b.return_share:
                out.append(_interaction(buyer, lead, "return",
                                        at + int(rng.uniform(1.0, 7.0) * _DAY_MS)))
    out.sort(key=lambda i: (i.occurred_ms, i.buyer_id, i.lead_id))
    return out


def _interaction(buyer: Buyer, lead: ScoredLead, kind: InteractionKind, at: int,
                 amount: float | None = None) -> BuyerInteraction:
    return BuyerInteraction(buyer_id=buyer.buyer_id, lead_id=lead.lead_id, kind=kind,
                            occurred_ms=at, h3_r7=lead.h3_r7, brokerage_id=buyer.brokerage_id,
                            amount=amount)
