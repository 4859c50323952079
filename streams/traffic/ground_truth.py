"""The hidden conversion model behind synthetic traffic, and the oracle it sets for scoring models.

Contract: ``p = sigmoid(w · f(lead) + b)`` where every feature but one is
visible on the parsed `Lead` (intent, price against the area's typical price,
phone, email, message length, property type, source, consent, hour of day,
beds). The exception, ``email_reachable``, is what a soft typo such as
``gmial.com`` hides: it lowers conversion but no parser can see it, so even the
oracle's features are a little richer than a model's. The base rate is about
7 %; a model that learned ``w`` exactly would reach `oracle_auc` of the true ``p``.

Outcomes are Bernoulli(p): positives become ``conversion`` (or, a quarter of the
time, a ``purchase`` by a buyer), negatives ``no_conversion``.
"""

from __future__ import annotations

import math
import random

import msgspec

from schemas.lead import Lead
from schemas.outcome import Outcome
from streams.scoring.evaluate import exact_auc as oracle_auc  # noqa: F401  (the oracle's AUC)
from streams.serve.pricing import RENT_TO_PRICE

#: Listing price of a property type relative to the area's typical single-family home.
TYPE_PRICE_FACTOR: dict[str, float] = {
    "single_family": 1.0,
    "condo": 0.65,
    "townhouse": 0.8,
    "multi_family": 1.3,
    "land": 0.3,
}

_BIAS = -5.6
_INTENT = {"buy": 0.0, "sell": 0.8, "rent": -1.45, "unknown": -0.95}
_PROPERTY_TYPE = {
    "single_family": 0.3,
    "townhouse": 0.15,
    "condo": 0.0,
    "multi_family": -0.15,
    "land": -0.95,
}
_SOURCE = {"portal": 0.4, "facebook": -0.4}
_PURCHASE_SHARE = 0.25


class TruthFeatures(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    intent: str  # buy, sell, rent, unknown
    property_type: str | None
    price: float | None  # listing price or budget; monthly rent when intent is rent
    area_median_price: float | None  # typical single-family value where the lead is
    beds: int | None
    has_email: bool
    has_phone: bool
    consent: bool
    message_words: int
    hour_utc: float
    email_reachable: bool = True

    @classmethod
    def from_lead(cls, lead: Lead, area_median_price: float | None) -> TruthFeatures:
        """The features as a parsed lead shows them (a soft email typo stays hidden)."""
        return cls(
            source=lead.source,
            intent=lead.intent,
            property_type=lead.property_type,
            price=lead.price,
            area_median_price=area_median_price,
            beds=lead.beds,
            has_email=lead.email is not None,
            has_phone=lead.phone is not None,
            consent=lead.consent,
            message_words=len(lead.message.split()),
            hour_utc=lead.event_time.hour + lead.event_time.minute / 60,
        )


def price_band(f: TruthFeatures) -> float | None:
    """log(price / the price expected for this intent, type and area); None when unknown."""
    if not f.price or not f.area_median_price or f.price <= 0:
        return None
    expected = f.area_median_price * TYPE_PRICE_FACTOR.get(f.property_type or "", 1.0)
    if f.intent == "rent":
        expected *= RENT_TO_PRICE
    return max(-2.0, min(2.0, math.log(f.price / expected)))


def conversion_logit(f: TruthFeatures) -> float:
    z = _BIAS + _INTENT.get(f.intent, -0.95)
    band = price_band(f)
    # Leads priced like their area convert best; far-off prices are tyre-kickers or typos.
    z += -0.5 if band is None else 0.25 * band - 0.95 * band * band
    z += 1.45 if f.has_phone else 0.0
    z += 0.55 if f.has_email and f.email_reachable else 0.0
    z += 0.5 * math.log1p(f.message_words)
    z += _PROPERTY_TYPE.get(f.property_type or "", -0.3)
    z += _SOURCE.get(f.source, 0.0)
    z += 0.7 if f.consent else 0.0
    # Peak around 17:00 UTC, US lunchtime; nights convert worst.
    z += 0.55 * math.cos(2 * math.pi * (f.hour_utc - 17.0) / 24)
    if f.beds is not None:
        z += 0.12 * (min(f.beds, 6) - 3)
    return z


def conversion_probability(f: TruthFeatures) -> float:
    """The true probability that this lead converts."""
    return 1.0 / (1.0 + math.exp(-conversion_logit(f)))


def draw_outcome(
    lead_id: str, p: float, rng: random.Random, occurred_ms: int, price: float | None = None
) -> Outcome:
    """Bernoulli(p) turned into the outcome a lead marketplace would record."""
    if rng.random() >= p:
        return Outcome(lead_id=lead_id, kind="no_conversion", occurred_ms=occurred_ms)
    if rng.random() < _PURCHASE_SHARE:
        # What a buyer paid for the lead: pricier homes make pricier leads.
        amount = round(20.0 + 130.0 * min(1.0, (price or 300_000) / 1_500_000), 2)
        buyer = f"buyer-{rng.randrange(1, 500):04d}"
        return Outcome(
            lead_id=lead_id, kind="purchase", occurred_ms=occurred_ms, buyer_id=buyer, amount=amount
        )
    return Outcome(lead_id=lead_id, kind="conversion", occurred_ms=occurred_ms)
