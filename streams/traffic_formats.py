"""Render a `LeadDraw` as each source sends it: the shapes documented in `schemas.raw`.

One function per source: ``render_<source>(draw, rng) -> Rendered``. A new source
(webform, partner, crm) is one more function in `RENDERERS`; nothing else changes.
`Rendered.features` records what the hidden model sees once the source's
format has dropped what it cannot carry (Facebook forms have no message).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import msgspec

from streams.ground_truth import TruthFeatures
from streams.traffic_draw import LeadDraw
from streams.traffic_random import between

PORTAL_TIME_SUFFIX = "Z"  # 2026-05-01T12:00:00Z
FACEBOOK_TIME_SUFFIX = "+0000"  # 2026-05-01T12:00:00+0000


class Rendered(msgspec.Struct, frozen=True, kw_only=True):
    source_id: str
    doc: dict[str, Any]
    id_field: str  # the top-level field holding `source_id`
    features: TruthFeatures


def _wire_time(draw: LeadDraw, suffix: str) -> str:
    # isoformat is twice as fast as strftime; event times are UTC in whole seconds.
    return draw.timestamp_text or draw.event_time.isoformat()[:19] + suffix


def _words(message: str | None) -> int:
    return len(message.split()) if message else 0


def render_portal(draw: LeadDraw, rng: random.Random) -> Rendered:
    home = draw.home
    source_id = f"pi-{rng.getrandbits(40):010x}"
    listing: dict[str, Any] = {
        "listing_id": home.listing_id,
        "price": int(draw.price),
        "beds": draw.beds,
        "baths": home.baths,
        "property_type": home.property_type,
    }
    if rng.random() < 0.9:  # some portals hide exact coordinates
        listing["lat"] = home.lat
        listing["lon"] = home.lon
    listing["address"] = {
        "street": home.street,
        "city": home.place.city,
        "state": home.place.state,
        "zip": home.zip.code,
    }
    contact: dict[str, Any] = {"name": f"{draw.person.first_name} {draw.person.last_name}"}
    if draw.email is not None:
        contact["email"] = draw.email
    if draw.phone is not None:
        contact["phone"] = draw.phone
    doc: dict[str, Any] = {
        "inquiry_id": source_id,
        "submitted_at": _wire_time(draw, PORTAL_TIME_SUFFIX),
        "listing": listing,
        "contact": contact,
    }
    if draw.intent != "unknown":
        doc["intent"] = draw.intent
    if draw.message is not None:
        doc["message"] = draw.message
    if draw.consent is not None:
        doc["consent"] = draw.consent
    features = draw.truth_features(
        message_words=_words(draw.message),
        consent=bool(draw.consent),
        beds=draw.beds,
        price=draw.price,
    )
    return Rendered(source_id=source_id, doc=doc, id_field="inquiry_id", features=features)


def format_budget(rng: random.Random, amount: float, rent: bool) -> str:
    """A budget as people type it into an ad form."""
    if rent:
        return f"${amount:,.0f}" if rng.random() < 0.7 else f"{amount:.0f}"
    roll = rng.random()
    if roll < 0.6:
        return f"${amount:,.0f}"
    if roll < 0.8:
        return f"{amount:.0f}"
    if amount >= 1_000_000:
        return f"${amount / 1_000_000:g}M"
    return f"{amount / 1000:.0f}k" if roll < 0.9 else f"${amount / 1000:.0f}K"


def _budget(draw: LeadDraw, rng: random.Random) -> float:
    # A stated budget is rounder than a listing price.
    if draw.intent == "rent":
        return float(round(draw.price / 100) * 100)
    step = 50_000 if draw.price >= 500_000 else 10_000
    return float(max(step, round(draw.price / step) * step))


def render_facebook(draw: LeadDraw, rng: random.Random) -> Rendered:
    home = draw.home
    source_id = str(between(rng, 10**15, 10**16 - 1))
    fields: list[dict[str, Any]] = []

    def add(name: str, value: object) -> None:
        fields.append({"name": name, "values": [value]})

    if rng.random() < 0.8:
        add("full_name", f"{draw.person.first_name} {draw.person.last_name}")
    else:
        add("first_name", draw.person.first_name)
        add("last_name", draw.person.last_name)
    if draw.email is not None:
        add("email", draw.email)
    if draw.phone is not None:
        add("phone_number", draw.phone)
    add("zip_code", home.zip.code)
    add("city", home.place.city)
    add("state", home.place.state)
    intent_text = draw.intent.capitalize() if rng.random() < 0.3 else draw.intent
    if draw.intent != "unknown":
        add("are_you_looking_to_buy_or_sell?", intent_text)
    budget: float | None = None
    if draw.intent != "sell" or rng.random() < 0.5:
        budget = draw.price_override if draw.price_override is not None else _budget(draw, rng)
        if budget < 0:
            add("what_is_your_budget?", f"-${-budget:,.0f}")
        else:
            add("what_is_your_budget?", format_budget(rng, budget, draw.intent == "rent"))
    add("property_type", home.property_type)
    if draw.beds is not None:
        add("bedrooms", str(draw.beds))
    doc: dict[str, Any] = {
        "id": source_id,
        "created_time": _wire_time(draw, FACEBOOK_TIME_SUFFIX),
        "ad_id": draw.ad_id,
        "form_id": draw.campaign.form_id,
        "campaign_id": draw.campaign.campaign_id,
        "field_data": fields,
    }
    features = draw.truth_features(message_words=0, consent=False, beds=draw.beds, price=budget)
    return Rendered(source_id=source_id, doc=doc, id_field="id", features=features)


Renderer = Callable[[LeadDraw, random.Random], Rendered]

RENDERERS: dict[str, Renderer] = {
    "portal": render_portal,
    "facebook": render_facebook,
}
