"""How well a lead fits what a buyer is looking for: one number in [0, 1].

Contract: ``fit(buyer, lead) = area * price * property type * intent * budget``,
each factor in [0, 1]; a factor is 1.0 where the buyer states no preference.

- area: 1.0 when the lead's res-7 cell is one of the buyer's cells; otherwise it
  falls off with the distance from the buyer's home (``exp(-d / 10 km)``, 0 beyond
  50 km or when either side has no location). Unlocated leads fit nobody by area.
- price: the lead's home value (monthly rents turned into values with
  `pricing.RENT_TO_PRICE`) inside the buyer's band is 1.0; outside it falls as
  a Gaussian in log distance from the band's edge (30 % out ≈ 0.7, 2x out ≈ 0.07).
  An unknown price is 0.7.
- property type: listed (or no list) 1.0, not listed 0.15, unknown 0.7.
- intent: listed 1.0, "unknown" 0.5, any other 0.0 (a listing agent does not want renters).
- budget: the expected price of the lead (`expected_lead_price`) within the buyer's
  budget per lead is 1.0, above it ``(budget / price)²``.

`BuyerFit` is a buyer compiled for the hot path (sets instead of lists, logs
precomputed); `LeadTerms` the lead side computed once per lead, whatever the
number of candidate buyers. `fit` is the convenient one-off form of both.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from schemas.lead import ScoredLead
from schemas.market import Buyer
from streams.serve.pricing import expected_lead_price, home_value

AREA_SCALE_KM = 10.0
AREA_LIMIT_KM = 50.0
PRICE_LOG_WIDTH = 0.3
UNKNOWN_PRICE = 0.7
OTHER_TYPE = 0.15
UNKNOWN_TYPE = 0.7
UNKNOWN_INTENT = 0.5

_EARTH_KM = 6371.0088


class LeadTerms(NamedTuple):
    """The lead side of fit, computed once per lead."""

    r7: int
    lat: float | None
    lon: float | None
    home_value: float | None  # USD; monthly rent turned into a value
    property_type: str | None
    intent: str
    lead_price: float


def lead_terms(lead: ScoredLead) -> LeadTerms:
    value = home_value(lead.price, lead.intent)
    located = lead.h3_r7 != 0
    return LeadTerms(
        r7=lead.h3_r7,
        lat=lead.lat if located else None,
        lon=lead.lon if located else None,
        home_value=value,
        property_type=lead.property_type,
        intent=lead.intent,
        lead_price=expected_lead_price(lead.price),
    )


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * _EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


class BuyerFit:
    """A buyer compiled for repeated fit computations."""

    __slots__ = ("budget", "buyer", "cells", "home", "intents", "log_max", "log_min", "types")

    def __init__(self, buyer: Buyer) -> None:
        self.buyer = buyer
        self.cells = frozenset(buyer.cells_r7)
        self.home = ((buyer.home_lat, buyer.home_lon)
                     if buyer.home_lat is not None and buyer.home_lon is not None else None)
        self.log_min = math.log(buyer.price_min) if buyer.price_min > 0 else -math.inf
        self.log_max = math.log(buyer.price_max) if buyer.price_max > 0 else math.inf
        self.types = frozenset(buyer.property_types) or None
        self.intents = frozenset(buyer.intents)
        self.budget = buyer.budget_per_lead

    def area(self, terms: LeadTerms) -> float:
        if terms.r7 == 0:
            return 0.0
        if terms.r7 in self.cells:
            return 1.0
        if self.home is None or terms.lat is None or terms.lon is None:
            return 0.0
        d = distance_km(self.home[0], self.home[1], terms.lat, terms.lon)
        return math.exp(-d / AREA_SCALE_KM) if d <= AREA_LIMIT_KM else 0.0

    def price(self, terms: LeadTerms) -> float:
        if terms.home_value is None:
            return 1.0 if self.log_min == -math.inf and self.log_max == math.inf else UNKNOWN_PRICE
        log_value = math.log(terms.home_value)
        if log_value < self.log_min:
            off = self.log_min - log_value
        elif log_value > self.log_max:
            off = log_value - self.log_max
        else:
            return 1.0
        return math.exp(-0.5 * (off / PRICE_LOG_WIDTH) ** 2)

    def property_type(self, terms: LeadTerms) -> float:
        if self.types is None:
            return 1.0
        if terms.property_type is None:
            return UNKNOWN_TYPE
        return 1.0 if terms.property_type in self.types else OTHER_TYPE

    def intent(self, terms: LeadTerms) -> float:
        if terms.intent in self.intents:
            return 1.0
        return UNKNOWN_INTENT if terms.intent == "unknown" else 0.0

    def budget_fit(self, terms: LeadTerms) -> float:
        if self.budget <= 0.0 or terms.lead_price <= self.budget:
            return 1.0
        return (self.budget / terms.lead_price) ** 2

    def fit(self, terms: LeadTerms) -> float:
        # Cheap, often-zero factors first: most candidates fail on intent or not at all.
        value = self.intent(terms)
        if value == 0.0:
            return 0.0
        value *= self.area(terms)
        if value == 0.0:
            return 0.0
        return value * self.price(terms) * self.property_type(terms) * self.budget_fit(terms)


def fit(buyer: Buyer, lead: ScoredLead) -> float:
    """How well `lead` fits `buyer`, in [0, 1] (see the module contract)."""
    return BuyerFit(buyer).fit(lead_terms(lead))
