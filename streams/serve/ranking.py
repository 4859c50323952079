"""Who may buy a lead, what it is worth to each of them, and the sort key that makes decay free.

Contract:
- Expected value for a buyer: ``ev = score * fit * affinity`` (`streams.serve.fit`,
  `streams.serve.recommender`). A cell's ranking uses the score alone (no buyer in view).
- Sort key: ``sort_key(ev, created_ms) = log2(ev) + created_hours / half_life``.
  With exponential decay a lead's value at time t is ``ev · 2^(-(t - created)/h)``
  ``= 2^(sort_key) · 2^(-t/h)``: the second factor is the same for every lead, so
  ordering by the key orders by decayed value at *every* later instant, and rankings
  never need rewriting as leads age. The decayed value itself is recovered at read
  time as ``value_at(key, now) = 2^(key - now_hours/h)``. (Changing the half-life
  leaves old keys on the old scale until those leads turn over.)
- Only sellable leads are ranked (`sellable`): located, not quarantined, not a
  duplicate. `place` returns None for the rest; `serve_op` turns that into a `Removal`
  (a re-scored lead, say quarantined later, must leave the rankings it was in). A
  purchase is a `Removal` with the `SOLD` tombstone: never ranked again.
- Candidates of a lead are the buyers whose area holds its res-7 cell (`BuyerIndex`,
  a dict from cell to buyers); buyers under `MIN_FIT` are left out of the lead's
  placements. The card is the public view of a lead (`LeadCard`): no contact
  details, no street or exact point, no message (STYLE point 4); its `reasons` are buyer
  phrases (`schemas.reasons`), while the raw reason codes stay on the scored lead for ops
  and the warehouse.
- `load_buyers(path)` reads buyer profiles (JSON list of `schemas.market.Buyer`);
  None means the bundled `schemas/buyers.json` (`scripts/make_buyers.py` builds it).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import NamedTuple

import h3.api.basic_int as h3
import msgspec

from schemas.lead import ScoredLead
from schemas.market import Buyer
from schemas.reasons import phrases
from streams.serve.decay import MS_PER_HOUR, decays
from streams.serve.fit import BuyerFit, lead_terms
from streams.serve.pricing import expected_lead_price
from streams.serve.recommender import Recommender, lead_segment

MIN_EV = 1e-12  # log2 needs a positive value; a zero score still sorts (last)
MIN_FIT = 0.05  # below this a buyer would not want to see the lead at all
HOME_RINGS = 3  # area of a buyer who named no cells: this many res-7 rings around home


def expected_value(score: float, fit: float, affinity: float = 1.0) -> float:
    return score * fit * affinity


def sort_key(ev: float, created_ms: int, half_life_hours: float) -> float:
    """The time-invariant ranking key of a lead worth `ev` when it was created."""
    key = math.log2(max(ev, MIN_EV))
    if decays(half_life_hours):
        key += created_ms / MS_PER_HOUR / half_life_hours
    return key


def value_at(key: float, now_ms: int, half_life_hours: float) -> float:
    """The decayed value a sort key stands for at `now_ms`."""
    exponent = key - (now_ms / MS_PER_HOUR / half_life_hours if decays(half_life_hours) else 0.0)
    return 2.0 ** exponent


def sellable(lead: ScoredLead) -> bool:
    return lead.h3_r7 != 0 and not lead.quarantined and lead.duplicate_of is None


class LeadCard(msgspec.Struct, kw_only=True, frozen=True):
    """What a buyer may see of a lead before buying it."""

    lead_id: str
    source: str
    intent: str
    property_type: str | None
    price: float | None
    beds: int | None
    city: str | None
    state: str | None
    zip: str | None
    h3_r7: int
    h3_r8: int
    listing_id: str | None
    score: float  # at scoring time; readers decay it
    lead_price: float  # what the lead is expected to sell for, USD
    created_ms: int
    scored_ms: int
    reasons: list[str] = []  # buyer phrases ("phone number given"), strongest first


class LeadContact(msgspec.Struct, kw_only=True, frozen=True):
    """What a purchase reveals, to its buyer only: who to call and where the home is."""

    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    street: str | None
    message: str
    consent: bool


def lead_contact(lead: ScoredLead) -> LeadContact:
    return LeadContact(first_name=lead.first_name, last_name=lead.last_name, email=lead.email,
                       phone=lead.phone, street=lead.street, message=lead.message,
                       consent=lead.consent)


def lead_card(lead: ScoredLead) -> LeadCard:
    return LeadCard(
        lead_id=lead.lead_id, source=lead.source, intent=lead.intent,
        property_type=lead.property_type, price=lead.price, beds=lead.beds, city=lead.city,
        state=lead.state, zip=lead.zip, h3_r7=lead.h3_r7, h3_r8=lead.h3_r8,
        listing_id=lead.listing_id, score=lead.score, lead_price=expected_lead_price(lead.price),
        created_ms=created_ms(lead), scored_ms=lead.scored_ms, reasons=phrases(lead.reasons),
    )


def created_ms(lead: ScoredLead) -> int:
    """When the lead's clock starts: its event time, never later than scoring (clock skew)."""
    event_ms = int(lead.event_time.timestamp() * 1000)
    return min(event_ms, lead.scored_ms) if lead.scored_ms else event_ms


class Placement(NamedTuple):
    """Where one sellable lead goes: its card, its cell ranking, each candidate's ranking."""

    lead_id: str
    h3_r7: int
    card: LeadCard
    segment: str
    cell_key: float
    buyer_keys: list[tuple[str, float]]  # (buyer_id, sort key)
    contact: LeadContact | None = None  # kept privately beside the card, for its buyer


class Removal(NamedTuple):
    """Take a lead out of every ranking; a tombstone (e.g. "sold") keeps it out for good."""

    lead_id: str
    tombstone: str = ""


SOLD = "sold"


class BuyerIndex:
    """Buyers by res-7 cell: the candidates of a lead are one dict lookup away."""

    def __init__(self, buyers: Iterable[Buyer]) -> None:
        by_cell: dict[int, list[BuyerFit]] = defaultdict(list)
        self.buyers: dict[str, Buyer] = {}
        for buyer in buyers:
            self.buyers[buyer.buyer_id] = buyer
            compiled = BuyerFit(buyer)
            for cell in _area(buyer):
                by_cell[cell].append(compiled)
        self._by_cell = {cell: tuple(fits) for cell, fits in by_cell.items()}

    def candidates(self, h3_r7: int) -> tuple[BuyerFit, ...]:
        return self._by_cell.get(h3_r7, ())

    def __len__(self) -> int:
        return len(self.buyers)


def _area(buyer: Buyer) -> Sequence[int]:
    if buyer.cells_r7:
        return buyer.cells_r7
    if buyer.home_lat is None or buyer.home_lon is None:
        return ()
    return h3.grid_disk(h3.latlng_to_cell(buyer.home_lat, buyer.home_lon, 7), HOME_RINGS)


def place(lead: ScoredLead, index: BuyerIndex, recommender: Recommender | None,
          half_life_hours: float) -> Placement | None:
    """Where `lead` ranks; None when it must not be ranked anywhere."""
    if not sellable(lead):
        return None
    created = created_ms(lead)
    terms = lead_terms(lead)
    segment_id = lead_segment(lead)
    buyer_keys: list[tuple[str, float]] = []
    for candidate in index.candidates(lead.h3_r7):
        fit = candidate.fit(terms)
        if fit < MIN_FIT:
            continue
        buyer_id = candidate.buyer.buyer_id
        affinity = recommender.affinity(buyer_id, segment_id) if recommender else 1.0
        ev = expected_value(lead.score, fit, affinity)
        buyer_keys.append((buyer_id, sort_key(ev, created, half_life_hours)))
    return Placement(
        lead_id=lead.lead_id,
        h3_r7=lead.h3_r7,
        card=lead_card(lead),
        contact=lead_contact(lead),
        segment=segment_id,
        cell_key=sort_key(lead.score, created, half_life_hours),
        buyer_keys=buyer_keys,
    )


def serve_op(lead: ScoredLead, index: BuyerIndex, recommender: Recommender | None,
             half_life_hours: float) -> Placement | Removal:
    """What the serve path does with a scored lead: place it, or make sure it is nowhere."""
    placement = place(lead, index, recommender, half_life_hours)
    return Removal(lead.lead_id) if placement is None else placement


def load_buyers(path: Path | None = None) -> list[Buyer]:
    """Buyer profiles from `path` (a JSON list), or the bundled ones when None."""
    raw = path.read_bytes() if path is not None else files("schemas").joinpath(
        "buyers.json").read_bytes()
    return msgspec.json.decode(raw, type=list[Buyer])
