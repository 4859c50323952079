"""Model inputs computed from a lead at scoring time.

The features are a plain ``dict[str, float]`` (River's input type). They are
snapshotted on the scored lead so that an outcome arriving days later trains
the model on exactly what it saw when it scored.
"""

from __future__ import annotations

import math

from schemas.contract import SOURCES
from schemas.lead import Lead

_PROPERTY_TYPES = ("single_family", "condo", "townhouse", "multi_family", "land")
_INTENTS = ("buy", "sell", "rent")
_TAU = 2 * math.pi
# One-hot keys formatted once, not per lead.
_INTENT_KEYS = tuple((f"intent_{intent}", intent) for intent in _INTENTS)
_TYPE_KEYS = tuple((f"type_{ptype}", ptype) for ptype in _PROPERTY_TYPES)
_SOURCE_KEYS = tuple((f"source_{source}", source) for source in SOURCES)


def lead_features(lead: Lead) -> dict[str, float]:
    """The per-lead (stateless) features: contact quality, intent, property, timing."""
    hour = lead.event_time.hour + lead.event_time.minute / 60
    x: dict[str, float] = {
        "has_email": 1.0 if lead.email else 0.0,
        "has_phone": 1.0 if lead.phone else 0.0,
        "has_name": 1.0 if lead.first_name else 0.0,
        "consent": 1.0 if lead.consent else 0.0,
        "log_price": math.log1p(lead.price) if lead.price else 0.0,
        "price_missing": 0.0 if lead.price else 1.0,
        "beds": float(min(lead.beds, 10)) if lead.beds is not None else 0.0,
        "message_words": math.log1p(len(lead.message.split())) if lead.message else 0.0,
        "located_exact": 1.0 if lead.location_precision == "exact" else 0.0,
        "hour_sin": math.sin(_TAU * hour / 24),
        "hour_cos": math.cos(_TAU * hour / 24),
    }
    for key, intent in _INTENT_KEYS:
        x[key] = 1.0 if lead.intent == intent else 0.0
    for key, ptype in _TYPE_KEYS:
        x[key] = 1.0 if lead.property_type == ptype else 0.0
    for key, source in _SOURCE_KEYS:
        x[key] = 1.0 if lead.source == source else 0.0
    return x
