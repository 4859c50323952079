"""Recommendations for one buyer: which cells a query covers, which cards pass, in what order.

Contract (pure: cards, a buyer and a clock in; ranked items out):
- Areas: `Near(lat, lon, radius_km)` covers every res-7 cell that may hold a lead within
  the radius; a lead is near when the centre of its res-8 cell (the finest place a card
  reveals) is within the radius. `InCell(cell)` takes an H3 cell of resolution 5-9: a
  coarser cell covers its res-7 children, a finer one its res-7 parent, and a lead is in
  it when its res-8 cell lies inside (res 8 and 9 cells: the lead's res-8 cell is, or
  contains, it). `OwnAreas` is the buyer's own ranking (`rank:buyer:{id}`).
- Filters (`Filters`): price band (the stated price, rents as rents), property types,
  intents, a minimum *decayed* score, a maximum age. A card with an unknown price or
  type fails a filter on it.
- Visibility: premium buyers see a lead at once; standard buyers when
  ``scored_ms + window <= now`` (`visible_at`). Held and sold leads are taken out by
  the caller (Redis knows them), never here.
- Order: by value decayed to the read time, highest first, ties by lead id. For the
  buyer's own areas the value is the ranking's expected value (score * fit *
  recommender affinity, decayed); for a point or a cell it is the decayed score * the
  buyer's fit, computed now from the card (`read_fit`). `why` names the fit factors.
- Cursors are opaque (`encode_cursor`): the (value, lead_id) of the last item served;
  the next page holds the items strictly after it in the order, so paging visits each
  item once even while values decay (all values decay by the same factor).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import h3.api.basic_int as h3
import msgspec

from schemas.market import Buyer
from streams.errors import AIQLeadsError
from streams.serve.decay import decayed
from streams.serve.fit import BuyerFit, LeadTerms, distance_km
from streams.serve.pricing import home_value
from streams.serve.ranking import LeadCard

QUERY_RES = 7  # rankings and feeds are per res-7 cell
MIN_CELL_RES, MAX_CELL_RES = 5, 9
_R7_EDGE_KM = h3.average_hexagon_edge_length(7, unit="km")
_R8_EDGE_KM = h3.average_hexagon_edge_length(8, unit="km")


class QueryError(AIQLeadsError, ValueError):
    """A query that cannot be answered as asked (bad cell, radius out of range)."""


@dataclass(frozen=True, slots=True)
class Near:
    lat: float
    lon: float
    radius_km: float


@dataclass(frozen=True, slots=True)
class InCell:
    cell: int


@dataclass(frozen=True, slots=True)
class OwnAreas:
    pass


Area = Near | InCell | OwnAreas


@dataclass(frozen=True, slots=True)
class Filters:
    price_min: float | None = None
    price_max: float | None = None
    property_types: frozenset[str] = field(default_factory=frozenset)
    intents: frozenset[str] = field(default_factory=frozenset)
    min_score: float | None = None
    max_age_hours: float | None = None


def query_cells(area: Near | InCell, max_radius_km: float) -> list[int]:
    """The res-7 cells whose rankings may hold leads of `area`."""
    if isinstance(area, InCell):
        cell = area.cell
        if not h3.is_valid_cell(cell):
            raise QueryError(f"{cell:x} is not an H3 cell")
        res = h3.get_resolution(cell)
        if not MIN_CELL_RES <= res <= MAX_CELL_RES:
            raise QueryError(f"cell resolution {res}: use resolution {MIN_CELL_RES} to "
                             f"{MAX_CELL_RES}")
        if res < QUERY_RES:
            return sorted(h3.cell_to_children(cell, QUERY_RES))
        return [h3.cell_to_parent(cell, QUERY_RES) if res > QUERY_RES else cell]
    if not (-90.0 <= area.lat <= 90.0 and -180.0 <= area.lon <= 180.0):
        raise QueryError("lat must be within ±90 and lon within ±180")
    if not 0.0 < area.radius_km <= max_radius_km:
        raise QueryError(f"radius_km must be above 0 and at most {max_radius_km:g}")
    centre = h3.latlng_to_cell(area.lat, area.lon, QUERY_RES)
    # Rings of res-7 cells are about √3·edge apart; one more ring covers the cell edges
    # and a lead's res-8 centre lying just inside the radius of a neighbouring cell.
    rings = math.ceil((area.radius_km + _R8_EDGE_KM) / (math.sqrt(3) * _R7_EDGE_KM)) + 1
    reach = area.radius_km + 2 * _R7_EDGE_KM
    return sorted(c for c in h3.grid_disk(centre, rings)
                  if distance_km(area.lat, area.lon, *h3.cell_to_latlng(c)) <= reach)


def in_area(card: LeadCard, area: Area) -> bool:
    if isinstance(area, OwnAreas):
        return True
    if isinstance(area, InCell):
        res = h3.get_resolution(area.cell)
        if res <= 8:
            return h3.cell_to_parent(card.h3_r8, res) == area.cell if card.h3_r8 else False
        return card.h3_r8 != 0 and h3.cell_to_parent(area.cell, 8) == card.h3_r8
    if not card.h3_r8:
        return False
    lat, lon = h3.cell_to_latlng(card.h3_r8)
    return distance_km(area.lat, area.lon, lat, lon) <= area.radius_km


def passes(card: LeadCard, filters: Filters, now_ms: int, half_life_hours: float) -> bool:
    if filters.price_min is not None and (card.price is None or card.price < filters.price_min):
        return False
    if filters.price_max is not None and (card.price is None or card.price > filters.price_max):
        return False
    if filters.property_types and card.property_type not in filters.property_types:
        return False
    if filters.intents and card.intent not in filters.intents:
        return False
    if filters.max_age_hours is not None and (
            now_ms - card.created_ms > filters.max_age_hours * 3_600_000):
        return False
    return filters.min_score is None or (
        decayed(card.score, card.created_ms, now_ms, half_life_hours) >= filters.min_score)


def visible_at(card_scored_ms: int, premium: bool, window_ms: int) -> int:
    """When a buyer of this tier may first see a lead scored at `card_scored_ms`."""
    return card_scored_ms if premium else card_scored_ms + window_ms


def card_terms(card: LeadCard) -> LeadTerms:
    """The fit's view of a lead from its public card (the res-8 centre for its place)."""
    lat, lon = h3.cell_to_latlng(card.h3_r8) if card.h3_r8 else (None, None)
    return LeadTerms(r7=card.h3_r7, lat=lat, lon=lon,
                     home_value=home_value(card.price, card.intent),
                     property_type=card.property_type, intent=card.intent,
                     lead_price=card.lead_price)


def why_fits(fit: BuyerFit, terms: LeadTerms) -> dict[str, float]:
    """Each fit factor in [0, 1] (1.0: exactly what the buyer asked for)."""
    return {"area": round(fit.area(terms), 4), "price": round(fit.price(terms), 4),
            "property_type": round(fit.property_type(terms), 4),
            "intent": round(fit.intent(terms), 4), "budget": round(fit.budget_fit(terms), 4)}


class Ranked(NamedTuple):
    card: LeadCard
    value: float  # what the order is by, decayed to the read time
    score_now: float
    fit: float
    why: dict[str, float]


def read_fit(buyer: BuyerFit, card: LeadCard) -> tuple[float, dict[str, float]]:
    terms = card_terms(card)
    why = why_fits(buyer, terms)
    return math.prod(why.values()), why


def rank(
    candidates: Iterable[tuple[LeadCard, float | None]],
    buyer: Buyer,
    area: Area,
    filters: Filters,
    now_ms: int,
    half_life_hours: float,
    window_ms: int,
) -> list[Ranked]:
    """Every candidate the buyer may see now, in order. Each candidate comes with the
    buyer ranking's decayed value when it has one (own areas), else None."""
    compiled = BuyerFit(buyer)
    premium = buyer.tier == "premium"
    seen: set[str] = set()
    out: list[Ranked] = []
    for card, ranked_value in candidates:
        if card.lead_id in seen:
            continue
        seen.add(card.lead_id)
        if visible_at(card.scored_ms, premium, window_ms) > now_ms:
            continue
        if not in_area(card, area) or not passes(card, filters, now_ms, half_life_hours):
            continue
        score_now = decayed(card.score, card.created_ms, now_ms, half_life_hours)
        fit, why = read_fit(compiled, card)
        value = ranked_value if ranked_value is not None else score_now * fit
        out.append(Ranked(card, value, score_now, fit, why))
    out.sort(key=lambda r: (-r.value, r.card.lead_id))
    return out


class Cursor(msgspec.Struct, array_like=True, frozen=True):
    value: float
    lead_id: str
    at_ms: int  # the read time the value was decayed to


def encode_cursor(item: Ranked, now_ms: int) -> str:
    raw = msgspec.msgpack.encode(Cursor(item.value, item.card.lead_id, now_ms))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return msgspec.msgpack.decode(raw, type=Cursor)
    except (ValueError, msgspec.DecodeError) as exc:
        raise QueryError("the cursor is not one this API gave out") from exc


def after_cursor(items: Sequence[Ranked], cursor: Cursor, now_ms: int,
                 half_life_hours: float) -> list[Ranked]:
    """The items strictly after the cursor in the order. Values decayed since the cursor
    was made are brought to its read time first: every value decays by the same factor,
    so the order, and the cursor's place in it, stay put."""
    bound = decayed(cursor.value, cursor.at_ms, now_ms, half_life_hours)

    def after(item: Ranked) -> bool:
        if math.isclose(item.value, bound, rel_tol=1e-9, abs_tol=1e-300):
            return item.card.lead_id > cursor.lead_id
        return item.value < bound

    return [item for item in items if after(item)]
