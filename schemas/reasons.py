"""Reasons a buyer can read: every model feature belongs to a family with a short phrase.

Reason codes are feature names with the direction they pushed the score (``has_phone+``,
``hour_sin-``: `streams.scoring.explain.top_reasons`). They stay as they are for ops and
the warehouse (`ScoredLead.reasons`); wherever a buyer sees a lead (the lead card), they
become phrases from this catalogue. Features that encode one fact share a family, so a
lead whose top codes are ``hour_sin+`` and ``hour_cos+`` reads one "time of day" reason.

Contract:
- `family_of(feature)`: the family of a feature name (exact names first, then prefixes for
  the one-hot and store families), or None for a feature the catalogue does not know.
  tests/unit/schemas/test_reasons.py fails when a feature the scoring path produces has none.
- `phrases(codes)`: the buyer phrases for reason codes, strongest first, one per family;
  codes of unknown features are left out (a buyer never reads a raw feature name).
"""

from __future__ import annotations

from typing import NamedTuple


class Family(NamedTuple):
    up: str  # the feature pushed the conversion score up
    down: str  # … or down


#: One entry per feature family: what it says to a buyer, in either direction.
FAMILIES: dict[str, Family] = {
    "phone": Family("phone number given", "no phone number"),
    "email": Family("email address given", "no email address"),
    "name": Family("full name given", "no name given"),
    "consent": Family("agreed to be contacted", "did not agree to be contacted"),
    "message": Family("wrote a detailed message", "short or no message"),
    "address": Family("exact property address", "no exact property address"),
    "time_of_day": Family("asked at a time of day when leads convert well",
                          "asked at a time of day when leads convert less"),
    "price": Family("a price point that converts well", "a price point that converts less"),
    "bedrooms": Family("a home size that converts well", "a home size that converts less"),
    "intent": Family("wants to buy, sell or rent in a way that converts well",
                     "wants to buy, sell or rent in a way that converts less"),
    "property_type": Family("a property type in demand", "a property type in less demand"),
    "source": Family("from a channel whose leads convert well",
                     "from a channel whose leads convert less"),
    "engagement": Family("active on listings recently", "little recent activity on listings"),
    "local_interest": Family("many recent inquiries nearby", "few recent inquiries nearby"),
    "hot_spot": Family("part of a cluster of recent inquiries", "outside any busy cluster"),
    "competition": Family("little competition from agents nearby",
                          "many competing agents nearby"),
    "price_vs_market": Family("priced in line with the local market",
                              "priced away from the local market"),
    "market_trend": Family("local prices moving favourably", "local prices unsettled"),
    "market_demand": Family("strong local buyer demand", "weak local buyer demand"),
    "buyer_mix": Family("an open market with many buyers", "an area a few buyers dominate"),
}

#: Feature name → family.
FEATURES: dict[str, str] = {
    "has_phone": "phone",
    "has_email": "email",
    "has_name": "name",
    "consent": "consent",
    "message_words": "message",
    "located_exact": "address",
    "hour_sin": "time_of_day",
    "hour_cos": "time_of_day",
    "log_price": "price",
    "price_missing": "price",
    "beds": "bedrooms",
    "clu_size": "hot_spot",
    "mkt_price_rel": "price_vs_market",
    "mkt_price_rel_sq": "price_vs_market",
    "mkt_trend": "market_trend",
    "mkt_volatility": "market_trend",
    "mkt_demand": "market_demand",
    "mkt_velocity": "market_demand",
    "mkt_competition": "market_demand",
}

#: Name prefix → family, for one-hot and store families (``intent_buy``, ``beh_views_7d``).
PREFIXES: dict[str, str] = {
    "intent_": "intent",
    "type_": "property_type",
    "source_": "source",
    "beh_": "engagement",
    "geo_density_": "local_interest",
    "comp_": "competition",
    "pen_": "buyer_mix",
}


def family_of(feature: str) -> str | None:
    """The family of a feature name, or None when the catalogue has no phrase for it."""
    family = FEATURES.get(feature)
    if family is not None:
        return family
    for prefix, family in PREFIXES.items():
        if feature.startswith(prefix):
            return family
    return None


def phrases(codes: list[str]) -> list[str]:
    """Buyer phrases for reason codes (``name+``/``name-``), one per family, in order.

    >>> phrases(["hour_sin+", "has_phone+", "hour_cos-", "mystery+"])
    ['asked at a time of day when leads convert well', 'phone number given']
    """
    seen: set[str] = set()
    out: list[str] = []
    for code in codes:
        name, sign = code[:-1], code[-1:]
        family = family_of(name)
        if family is None or family in seen or sign not in ("+", "-"):
            continue
        seen.add(family)
        entry = FAMILIES[family]
        out.append(entry.up if sign == "+" else entry.down)
    return out
