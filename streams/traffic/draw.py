"""One synthetic lead before it takes any source's format: a person, a place, a property.

Every source format (`streams.traffic.formats`) renders the same `LeadDraw`, so a
new source is one more render function. Draw-level defects (no contact, broken
contacts, bad timestamps, impossible values) are applied here, before
rendering; byte-level ones (truncation, encoding, shape) after it.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from msgspec.structs import replace

from streams.serve.pricing import RENT_TO_PRICE
from streams.traffic.ground_truth import TYPE_PRICE_FACTOR, TruthFeatures
from streams.traffic.people import Person, break_email, break_phone, draw_person, format_phone
from streams.traffic.places import Gazetteer, Place, Zip
from streams.traffic.sampling import Weighted, between, pick

_PROPERTY_TYPES = ("single_family", "condo", "townhouse", "multi_family", "land")
_pick_type = Weighted(list(zip(_PROPERTY_TYPES, (0.60, 0.18, 0.10, 0.06, 0.06), strict=True)))
_pick_rental_type = Weighted(list(zip(_PROPERTY_TYPES, (0.55, 0.27, 0.12, 0.06, 0.0), strict=True)))
_BASE_BEDS = {"single_family": 3.1, "condo": 1.6, "townhouse": 2.6, "multi_family": 4.0}
_STREETS = (
    "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Main",
    "Sunset", "Highland", "Ridge", "Meadow", "Willow", "Church", "Mill", "River", "Spring",
    "Chestnut", "Walnut", "Lincoln", "Jefferson", "Madison", "Franklin", "Magnolia", "Cypress",
    "Aspen", "Birch", "Dogwood", "Hickory", "Juniper", "Laurel", "Sycamore", "Bayview",
    "Canyon", "Prairie", "Summit", "Harbor", "Orchard", "Vista", "El Camino", "Peachtree",
)  # fmt: skip
_SUFFIXES = ("St", "Ave", "Dr", "Ln", "Rd", "Ct", "Blvd", "Way", "Pl", "Cir", "Ter", "Trl")
_INTENTS: dict[str, Weighted[str]] = {
    "portal": Weighted([("buy", 0.68), ("rent", 0.22), ("sell", 0.05), ("unknown", 0.05)]),
    "facebook": Weighted([("buy", 0.55), ("sell", 0.30), ("rent", 0.15)]),
}
_DEFAULT_INTENTS = Weighted([("buy", 0.6), ("sell", 0.25), ("rent", 0.15)])
_LISTING_REUSE = 0.25  # popular listings draw several inquiries
_LISTING_POOL = 1000


class Home(msgspec.Struct, frozen=True, kw_only=True):
    """The property a lead is about: a listing (portal) or what the person wants (ads)."""

    listing_id: str
    property_type: str
    price: float  # listing price, or monthly rent when the intent is rent
    beds: int | None
    baths: float | None
    street: str
    lat: float
    lon: float
    place: Place
    zip: Zip


class Campaign(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: str
    form_id: str
    ad_ids: tuple[str, ...]


class LeadDraw(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a source renders; contact fields as typed (None = not given)."""

    source: str
    person: Person
    home: Home
    intent: str  # buy, sell, rent, unknown
    message: str | None
    consent: bool | None
    event_time: datetime  # UTC, whole seconds
    email: str | None
    phone: str | None
    email_ok: bool
    phone_ok: bool
    campaign: Campaign
    ad_id: str
    timestamp_text: str | None = None  # overrides the rendered event time (bad timestamps)
    price_override: float | None = None  # impossible values
    beds_override: int | None = None

    @property
    def price(self) -> float:
        return self.price_override if self.price_override is not None else self.home.price

    @property
    def beds(self) -> int | None:
        return self.beds_override if self.beds_override is not None else self.home.beds

    def truth_features(
        self, *, message_words: int, consent: bool, beds: int | None, price: float | None
    ) -> TruthFeatures:
        """The features the hidden model sees, given what the source format kept."""
        return TruthFeatures(
            source=self.source,
            intent=self.intent,
            property_type=self.home.property_type,
            price=price,
            area_median_price=self.home.place.median_price,
            beds=beds,
            has_email=self.email is not None and self.email_ok,
            has_phone=self.phone is not None and self.phone_ok,
            consent=consent,
            message_words=message_words,
            hour_utc=self.event_time.hour + self.event_time.minute / 60,
            email_reachable=self.person.email_reachable,
        )


def round_price(rng: random.Random, price: float, rent: bool) -> float:
    """Prices as listed: round thousands, often 'charm' priced just under them."""
    if rent:
        return float(max(400, round(price / 25) * 25))
    step = 1_000 if price < 200_000 else 5_000
    rounded = max(10_000, round(price / step) * step)
    return float(rounded - 100 if rng.random() < 0.3 else rounded)


def draw_home(rng: random.Random, gazetteer: Gazetteer, intent: str) -> Home:
    place, z = gazetteer.sample(rng)
    rent = intent == "rent"
    ptype = _pick_rental_type(rng) if rent else _pick_type(rng)
    spread = rng.lognormvariate(0.0, 0.45)
    price = place.median_price * TYPE_PRICE_FACTOR[ptype] * spread
    if rent:
        price *= RENT_TO_PRICE
    beds: int | None = None
    baths: float | None = None
    if ptype != "land":
        # Pricier-than-typical homes are bigger: beds follow the price spread.
        raw = _BASE_BEDS[ptype] + 1.1 * math.log(spread) + rng.gauss(0.0, 0.6)
        beds = int(min(max(round(raw), 0 if ptype == "condo" else 1), 8))
        baths = max(1.0, round((beds * 0.6 + rng.gauss(0.4, 0.4)) * 2) / 2)
    street = f"{between(rng, 1, 9899)} {pick(rng, _STREETS)} {pick(rng, _SUFFIXES)}"
    if ptype == "condo" and rng.random() < 0.6:
        street += f" Apt {between(rng, 1, 30)}{pick(rng, 'ABCDEF')}"
    return Home(
        listing_id=f"L-{between(rng, 100_000, 9_999_999)}",
        property_type=ptype,
        price=round_price(rng, price, rent),
        beds=beds,
        baths=baths,
        street=street,
        # About a kilometre around the ZIP centroid.
        lat=round(z.lat + rng.gauss(0.0, 0.008), 6),
        lon=round(z.lon + rng.gauss(0.0, 0.01), 6),
        place=place,
        zip=z,
    )


def _message(rng: random.Random, intent: str, home: Home) -> str | None:
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.20:
        return ""
    options = _MESSAGES.get(intent, _MESSAGES["buy"])
    text = pick(rng, options).format(street=home.street, city=home.place.city)
    if intent == "buy" and rng.random() < 0.2:
        text += " We are pre-approved and can move quickly."
    return text


_MESSAGES: dict[str, tuple[str, ...]] = {
    "buy": (
        "Is it still available?",
        "Can I schedule a showing this weekend?",
        "What are the HOA fees?",
        "Is the seller open to offers?",
        "Hi, I'd like more information about {street}.",
        "How old is the roof? Any recent inspections?",
        "We're relocating to {city} for work this summer and this looks perfect for our "
        "family. Could we see it Thursday after 5pm?",
        "¿Está disponible todavía? Me gustaría verla.",
        "Is there a garage?",
        "What are the property taxes like?",
        "Interested",
    ),
    "rent": (
        "Is this still available for rent? When can I move in?",
        "Are pets allowed? I have a small dog.",
        "What's the lease term and the deposit?",
        "Is parking included?",
        "Hello, I'm a nurse starting at a hospital in {city} next month. Is this unit "
        "available from the 1st?",
    ),
    "sell": (
        "I'm thinking of selling my home nearby, what could I get for it?",
        "Can you send me a valuation for my house in {city}?",
        "We're downsizing and want to list in the spring.",
    ),
    "unknown": ("Please call me", "info", "Send details"),
}


@dataclass
class DrawContext:
    """Per-generator state shared by draws: recent listings and the ad campaigns."""

    gazetteer: Gazetteer
    campaigns: tuple[Campaign, ...]
    listings: deque[Home]

    @classmethod
    def new(cls, rng: random.Random, gazetteer: Gazetteer) -> DrawContext:
        campaigns = tuple(
            Campaign(
                campaign_id=f"2385{rng.randrange(10**13, 10**14)}",
                form_id=f"{rng.randrange(10**14, 10**15)}",
                ad_ids=tuple(f"2385{rng.randrange(10**13, 10**14)}" for _ in range(3)),
            )
            for _ in range(12)
        )
        return cls(gazetteer=gazetteer, campaigns=campaigns, listings=deque(maxlen=_LISTING_POOL))


def draw_lead(rng: random.Random, ctx: DrawContext, source: str, now: datetime) -> LeadDraw:
    """A clean lead: real place, fitting price, at least one good contact, timestamp ≈ now."""
    intent = _INTENTS.get(source, _DEFAULT_INTENTS)(rng)
    reuse = source == "portal" and ctx.listings and rng.random() < _LISTING_REUSE
    if reuse:
        home = pick(rng, ctx.listings)
        intent = "rent" if home.price < 20_000 else ("buy" if intent == "rent" else intent)
    else:
        home = draw_home(rng, ctx.gazetteer, intent)
        if source == "portal":
            ctx.listings.append(home)
    person = draw_person(rng, ctx.gazetteer.area_codes(home.zip))

    # Ad forms come prefilled from the profile: both contacts, rarer typos.
    both = 0.92 if source == "facebook" else 0.72
    roll = rng.random()
    has_email = roll < (1 + both) / 2
    has_phone = roll < both or not has_email
    email = person.email if has_email else None
    phone = format_phone(rng, person.phone_e164) if has_phone else None
    email_ok = phone_ok = True
    if has_email and has_phone:  # one bad contact of two still leaves a valid lead
        roll = rng.random()
        if roll < 0.04:
            email, email_ok = break_email(rng, person.email), False
        elif roll < 0.09:
            phone, phone_ok = break_phone(rng, person.phone_e164), False

    mean_lag = 45.0 if source == "facebook" else 3.0  # ad leads arrive by polling
    lag = min(rng.expovariate(1.0 / mean_lag), 900.0)
    event_time = (now - timedelta(seconds=lag)).replace(microsecond=0)
    consent_roll = rng.random()
    consent = True if consent_roll < 0.80 else (False if consent_roll < 0.94 else None)
    campaign = pick(rng, ctx.campaigns)
    return LeadDraw(
        source=source,
        person=person,
        home=home,
        intent=intent,
        message=_message(rng, intent, home),
        consent=consent,
        event_time=event_time,
        email=email,
        phone=phone,
        email_ok=email_ok,
        phone_ok=phone_ok,
        campaign=campaign,
        ad_id=pick(rng, campaign.ad_ids),
    )


def without_contact(draw: LeadDraw) -> LeadDraw:
    return replace(draw, email=None, phone=None)


def with_bad_contacts(rng: random.Random, draw: LeadDraw) -> tuple[LeadDraw, str]:
    """Every given contact broken; the reason is the email's when one was given."""
    roll = rng.random()
    email = break_email(rng, draw.person.email) if roll < 0.75 else None
    phone = break_phone(rng, draw.person.phone_e164) if roll < 0.5 or roll >= 0.75 else None
    broken = replace(draw, email=email, phone=phone, email_ok=False, phone_ok=False)
    return broken, "bad_email" if email is not None else "bad_phone"
