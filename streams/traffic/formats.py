"""Render a `LeadDraw` as each source sends it: the shapes documented in `schemas.raw`.

One function per source: ``render_<source>(draw, rng) -> Rendered``; `RENDERERS`
holds them. `Rendered.features` records what the hidden model sees once the
source's format has dropped what it cannot carry (Facebook forms have no message;
a partner without a beds column has no beds). `streams.traffic.wire` turns a
`Rendered` into message bytes and headers (and applies byte-level defects).

Every site and feed is consistent with itself: a web form (one a campaign's form id)
always spells its field names, body syntax and timestamps the same way; a partner row
follows its entry in the partner registry.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from datetime import timedelta, timezone
from email.utils import format_datetime
from typing import Any

import msgspec
from msgspec.structs import replace

from schemas.contract import PARTNER_HEADER
from streams.identity import content_id
from streams.parse.contact import normalize_email, normalize_phone
from streams.parse.partner_mappings import EPOCH, PartnerSpec, bundled_partners
from streams.traffic.draw import LeadDraw
from streams.traffic.sampling import between, pick
from streams.traffic.wire import JSON, Encoding, Rendered

__all__ = ["RENDERERS", "Rendered", "Renderer", "format_budget"]

PORTAL_TIME_SUFFIX = "Z"  # 2026-05-01T12:00:00Z
FACEBOOK_TIME_SUFFIX = "+0000"  # 2026-05-01T12:00:00+0000


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


# --- website forms ----------------------------------------------------------------------------


class _Site(msgspec.Struct, frozen=True, kw_only=True):
    """How one website's form names its fields (`id` None: the form sends no id)."""

    id: str | None
    time: str
    name: str | tuple[str, str]
    email: str
    phone: str
    zip: str
    intent: str
    budget: str
    type: str
    beds: str
    message: str
    consent: str
    ip: str
    form: str


# fmt: off
_SITES = (
    _Site(id="submission_id", time="submitted_at", name=("first_name", "last_name"),
          email="email", phone="phone", zip="zip", intent="looking_to", budget="budget",
          type="property_type", beds="bedrooms", message="message", consent="consent", ip="ip",
          form="form_id"),
    _Site(id="id", time="Date Submitted", name="Name", email="E-mail", phone="Phone Number",
          zip="Zip Code", intent="I am looking to", budget="Price Range", type="Home Type",
          beds="Beds", message="Comments", consent="I agree to be contacted",
          ip="ip_address", form="form"),
    _Site(id="entry_id", time="timestamp", name="FullName", email="Email", phone="Phone",
          zip="postal_code", intent="interest", budget="What's your budget?",
          type="type_of_home", beds="bedrooms", message="questions", consent="tcpa_consent",
          ip="remote_ip", form="formId"),
    _Site(id=None, time="created_at", name=("firstName", "lastName"), email="email_address",
          phone="mobile", zip="zipcode", intent="buy_or_sell", budget="max_price",
          type="property_type", beds="beds", message="Message", consent="opt_in",
          ip="client_ip", form="form_name"),
)
_INTENT_ANSWERS = {
    "buy": ("buy", "Buy", "Buying", "Buy a home"),
    "sell": ("sell", "Sell", "Selling", "Sell my home"),
    "rent": ("rent", "Rent", "Renting", "Rent a place"),
}
_PROPERTY_LABELS = {
    "single_family": "Single Family", "condo": "Condo", "townhouse": "Townhouse",
    "multi_family": "Multi-Family", "land": "Land",
}
# First octets of large US consumer-ISP blocks (no private, CGNAT or reserved ranges).
_ISP_OCTETS = (24, 47, 50, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 96, 97, 98, 99, 107, 108,
               162, 173, 174, 184)
# fmt: on


def _client_ip(rng: random.Random) -> str:
    octets = (pick(rng, _ISP_OCTETS), between(rng, 0, 255), between(rng, 0, 255))
    return "{}.{}.{}.".format(*octets) + str(between(rng, 1, 254))


def _site_time(draw: LeadDraw, style: int, as_json: bool) -> object:
    """The event time the way site `style` writes it (to the second)."""
    if draw.timestamp_text is not None:
        return draw.timestamp_text
    moment = draw.event_time
    if style == 0:
        return moment.isoformat()[:19] + "Z"
    if style == 1:  # US 12-hour clock, no offset (read as UTC)
        hour = moment.hour % 12 or 12
        half = "AM" if moment.hour < 12 else "PM"
        return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment:%M:%S} {half}"
    if style == 2:
        millis = int(moment.timestamp() * 1000)
        return millis if as_json else str(millis)
    if style == 3:
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    if style == 4:
        return format_datetime(moment)  # RFC 2822: "Fri, 01 May 2026 12:00:00 +0000"
    local = timezone(timedelta(hours=-(5 + moment.day % 4)))  # a stated US offset
    return moment.astimezone(local).isoformat()


def render_webform(draw: LeadDraw, rng: random.Random) -> Rendered:
    home, person = draw.home, draw.person
    form_id = draw.campaign.form_id
    seed = int(form_id) if form_id.isdigit() else zlib.crc32(form_id.encode())
    site = _SITES[seed % len(_SITES)]
    as_json = (seed // 7) % 3 != 0
    nested = as_json and (seed // 11) % 3 == 0  # answers under "fields", ids on top
    doc: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    source_id = ""
    if site.id is not None:
        source_id = (
            f"wf-{rng.getrandbits(40):010x}" if seed % 2 else str(between(rng, 10**6, 10**9))
        )
        doc[site.id] = source_id
    doc[site.form] = form_id
    stamp = _site_time(draw, (seed // 5) % 6, as_json)
    doc[site.time] = stamp
    if isinstance(site.name, tuple):
        answers[site.name[0]] = person.first_name
        answers[site.name[1]] = person.last_name
    else:
        answers[site.name] = f"{person.first_name} {person.last_name}"
    if draw.email is not None:
        answers[site.email] = draw.email
    if draw.phone is not None:
        answers[site.phone] = draw.phone
    answers[site.zip] = home.zip.code
    if rng.random() < 0.5:
        answers["city"] = home.place.city
        answers["state"] = home.place.state
    intent = draw.intent if draw.intent in _INTENT_ANSWERS else "unknown"
    if intent != "unknown":
        answers[site.intent] = pick(rng, _INTENT_ANSWERS[intent])
    budget: float | None = None
    if draw.price_override is not None or intent != "sell" or rng.random() < 0.5:
        budget = draw.price_override if draw.price_override is not None else _budget(draw, rng)
        answers[site.budget] = _budget_text(rng, budget, intent)
    property_type = None
    if rng.random() < 0.6:
        property_type = home.property_type
        answers[site.type] = _PROPERTY_LABELS.get(property_type, property_type)
    beds = None
    if draw.beds is not None and (draw.beds_override is not None or rng.random() < 0.5):
        beds = draw.beds
        answers[site.beds] = beds if as_json and rng.random() < 0.5 else str(beds)
    if draw.message is not None:
        answers[site.message] = draw.message
    if draw.consent is not None and (draw.consent or as_json):  # an unticked box is not posted
        answers[site.consent] = draw.consent if as_json else "on"
    headers: dict[str, str] = {}
    ip = _client_ip(rng)
    if rng.random() < 0.6:
        answers[site.ip] = ip
    elif rng.random() < 0.5:  # posted through our HTTP ingest behind a proxy
        headers["x-forwarded-for"] = f"{ip}, 10.0.{between(rng, 0, 255)}.{between(rng, 1, 254)}"
    if nested:
        doc["fields"] = answers
    else:
        doc.update(answers)
    if seed % 5:  # most senders say what they send; the rest leave it to sniffing
        kind = "application/json" if as_json else "application/x-www-form-urlencoded"
        headers["content-type"] = kind
    if site.id is None:  # what `parse_webform` derives: form, time and a contact hash
        contact = normalize_email(draw.email) or normalize_phone(draw.phone) or ""
        source_id = f"{form_id}@{str(stamp).strip()[:200]}~{content_id(contact.encode())[:12]}"
    features = replace(
        draw.truth_features(
            message_words=_words(draw.message),
            consent=draw.consent is True,
            beds=beds,
            price=budget,
        ),
        intent=intent,
        property_type=property_type,
    )
    return Rendered(
        source_id=source_id,
        doc=doc,
        id_field=site.id or "",
        features=features,
        headers=headers,
        encoding=JSON if as_json else Encoding(kind="form"),
    )


def _budget_text(rng: random.Random, budget: float, intent: str) -> str:
    if budget < 0:
        return f"-${-budget:,.0f}"
    return format_budget(rng, budget, intent == "rent")


# --- partner CSV rows -------------------------------------------------------------------------

_INTENT_WORDS = {"buy": "Buyer", "sell": "Seller", "rent": "Renter"}
_CONSENT_WORDS = (("Yes", "No"), ("Y", "N"), ("1", "0"), ("TRUE", "FALSE"))


def _carries(spec: PartnerSpec, draw: LeadDraw) -> bool:
    """Whether `spec`'s columns can say all this draw needs said (its defects included)."""
    fields = spec.fields
    return (
        "event_time" in fields
        and (draw.email is None or "email" in fields)
        and (draw.phone is None or "phone" in fields)
        and ("intent" in fields or spec.defaults.get("intent") == draw.intent)
        and (draw.beds_override is None or "beds" in fields)
        and (draw.price_override is None or "price" in fields)
        and not {"full_name", "first_name", "last_name"}.isdisjoint(fields)
    )


def _partner_time(draw: LeadDraw, spec: PartnerSpec) -> str:
    if draw.timestamp_text is not None:
        return draw.timestamp_text
    if spec.date_format == EPOCH:
        return str(int(draw.event_time.timestamp()))
    local = draw.event_time.astimezone(spec.zone)
    if spec.date_format is not None:
        return local.strftime(spec.date_format)
    return f"{local:%Y-%m-%d %H:%M:%S}"


def _intent_code(spec: PartnerSpec, intent: str) -> str:
    for code, value in spec.values.get("intent", {}).items():
        if value == intent:
            return code.upper()
    return _INTENT_WORDS.get(intent, "")


def render_partner(draw: LeadDraw, rng: random.Random) -> Rendered:
    registry = bundled_partners()
    specs = [registry[partner_id] for partner_id in registry]
    spec = pick(rng, [s for s in specs if _carries(s, draw)] or specs)
    home, person = draw.home, draw.person
    own_id = f"{spec.partner_id[:2].upper()}-{between(rng, 10**5, 10**8 - 1)}"
    budget = draw.price_override if draw.price_override is not None else _budget(draw, rng)
    yes, no = _CONSENT_WORDS[zlib.crc32(spec.partner_id.encode()) % len(_CONSENT_WORDS)]
    values: dict[str, str] = {
        "source_lead_id": own_id,
        "event_time": _partner_time(draw, spec),
        "full_name": f"{person.first_name} {person.last_name}",
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": draw.email or "",
        "phone": draw.phone or "",
        "street": home.street,
        "city": home.place.city,
        "state": home.place.state,
        "zip": home.zip.code,
        "lat": f"{home.lat:.6f}",
        "lon": f"{home.lon:.6f}",
        "intent": _intent_code(spec, draw.intent),
        "price": _budget_text(rng, budget, draw.intent),
        "property_type": _PROPERTY_LABELS.get(home.property_type, home.property_type),
        "beds": "" if draw.beds is None else str(draw.beds),
        "consent": "" if draw.consent is None else (yes if draw.consent else no),
        "message": draw.message or "",
        "listing_id": home.listing_id,
        "ip": _client_ip(rng),
    }
    fields = spec.fields
    row = dict.fromkeys(spec.columns, "")
    for field, positions in fields.items():
        # A feed with a fallback column (mobile, else home phone) fills one or the other.
        at = positions[-1] if len(positions) > 1 and rng.random() < 0.3 else positions[0]
        row[spec.columns[at]] = values.get(field, "")
    features = replace(
        draw.truth_features(
            message_words=_words(draw.message) if "message" in fields else 0,
            consent=draw.consent is True and "consent" in fields,
            beds=draw.beds if "beds" in fields else None,
            price=budget if "price" in fields else None,
        ),
        intent=draw.intent if "intent" in fields else spec.defaults.get("intent", "unknown"),
        property_type=home.property_type if "property_type" in fields else None,
    )
    roll = rng.random()
    encoding = Encoding(
        kind="csv",
        delimiter=spec.delimiter,
        quotechar=spec.quotechar,
        prefix="\ufeff" if roll < 0.02 else "",  # an exporter that starts every row with a BOM
        suffix="\r\n" if roll < 0.6 else ("\n" if roll < 0.8 else ""),
    )
    id_column = spec.columns[fields["source_lead_id"][0]] if "source_lead_id" in fields else ""
    return Rendered(
        source_id=f"{spec.partner_id}:{own_id}",
        doc=row,
        id_field=id_column,
        features=features,
        headers={PARTNER_HEADER: spec.partner_id},
        encoding=encoding,
    )


# --- CRM webhooks -----------------------------------------------------------------------------

_LEGAL_BASIS = {True: "Freely given consent from contact", False: "Legitimate interest - lead"}


def render_crm(draw: LeadDraw, rng: random.Random) -> Rendered:
    home, person = draw.home, draw.person
    object_id = between(rng, 10**5, 10**11)
    millis = int(draw.event_time.timestamp() * 1000)
    properties: dict[str, Any] = {"firstname": person.first_name, "lastname": person.last_name}
    if draw.email is not None:
        properties["email"] = draw.email
    if draw.phone is not None:
        properties["mobilephone" if rng.random() < 0.3 else "phone"] = draw.phone
    if rng.random() < 0.5:
        properties["address"] = home.street
    properties["city"] = home.place.city
    properties["state"] = home.place.state
    properties["zip"] = home.zip.code
    intent = draw.intent if draw.intent in _INTENT_ANSWERS else "unknown"
    if intent != "unknown":
        properties["lead_intent"] = intent
    budget: float | None = None
    if draw.price_override is not None or intent != "sell" or rng.random() < 0.5:
        budget = draw.price_override if draw.price_override is not None else _budget(draw, rng)
        properties["budget"] = str(int(budget))
    properties["property_type"] = home.property_type
    if draw.beds is not None:
        properties["bedrooms"] = str(draw.beds)
    message = draw.message if rng.random() < 0.6 else None
    if message is not None:
        properties["message"] = message
    if draw.consent is not None:
        properties["hs_legal_basis"] = _LEGAL_BASIS[draw.consent]
    if rng.random() < 0.3:
        properties["ip_address"] = _client_ip(rng)
    if draw.timestamp_text is not None or rng.random() < 0.85:
        properties["createdate"] = draw.timestamp_text or str(millis)
    if rng.random() < 0.8:  # HubSpot's shape; some CRMs send the values flat
        properties = {name: {"value": value} for name, value in properties.items()}
    doc: dict[str, Any] = {
        "eventId": between(rng, 10**8, 10**10),
        "subscriptionId": 1_000_000 + between(rng, 0, 999),
        "portalId": 62_515,
        "appId": 1_160_452,
        "occurredAt": millis if rng.random() < 0.9 else str(millis),
        "subscriptionType": "contact.creation",
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM_UI" if rng.random() < 0.3 else "FORM",
        "properties": properties,
    }
    features = replace(
        draw.truth_features(
            message_words=_words(message),
            consent=draw.consent is True,
            beds=draw.beds,
            price=budget,
        ),
        intent=intent,
    )
    return Rendered(
        source_id=str(object_id),
        doc=doc,
        id_field="objectId",
        features=features,
        encoding=Encoding(kind="json_batch") if rng.random() < 0.5 else JSON,
    )


Renderer = Callable[[LeadDraw, random.Random], Rendered]

RENDERERS: dict[str, Renderer] = {
    "portal": render_portal,
    "facebook": render_facebook,
    "webform": render_webform,
    "partner": render_partner,
    "crm": render_crm,
}
