"""Listing-portal inquiry JSON (`schemas.raw.PortalInquiry`) → canonical `Lead`.

Contract: `parse_portal(raw, received, headers)` (headers unused) returns a `Lead`
or raises a `LeadRejected` subclass (BadEncoding, BadJson, BadShape, BadTimestamp,
MissingContact, BadEmail, BadPhone); nothing else. Size limits and value ranges are
checked elsewhere (`streams.parse.registry`, `streams.validate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from math import isfinite
from typing import Any

import msgspec

from schemas.lead import Lead
from schemas.raw import PortalAddress, PortalContact, PortalInquiry, PortalListing
from streams.identity import content_id, lead_id
from streams.parse.contact import resolve_contact, split_name
from streams.parse.decode import (
    NO_HEADERS,
    NUMBER,
    TEXT,
    Rule,
    coerce,
    decode_event,
    parse_timestamp,
)
from streams.parse.geocode import locate
from streams.parse.normalize import (
    clean_text,
    normalize_intent,
    normalize_property_type,
    parse_bool,
    parse_count,
    parse_money,
)

SOURCE = "portal"

_decoder = msgspec.json.Decoder(PortalInquiry, strict=False)
_NO_LISTING = PortalListing()
_NO_ADDRESS = PortalAddress()
_NO_CONTACT = PortalContact()


def parse_portal(raw: bytes, received: datetime, headers: Mapping[str, str] = NO_HEADERS) -> Lead:
    """One portal inquiry → a `Lead` (received: UTC-aware time the event reached us)."""
    inquiry = decode_event(raw, _decoder, _repair)
    event_time = parse_timestamp(inquiry.submitted_at)
    contact = inquiry.contact or _NO_CONTACT
    email, phone = resolve_contact(contact.email, contact.phone)
    first_name, last_name = split_name(contact.name)
    listing = inquiry.listing or _NO_LISTING
    address = listing.address or _NO_ADDRESS
    where = locate(listing.lat, listing.lon, address.zip, address.city, address.state)
    source_lead_id = inquiry.inquiry_id.strip() or content_id(raw)
    return Lead(
        lead_id=lead_id(SOURCE, source_lead_id),
        source=SOURCE,
        source_lead_id=source_lead_id,
        event_time=event_time,
        received_time=received,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        intent=normalize_intent(inquiry.intent),
        property_type=normalize_property_type(listing.property_type),
        # strict=False reads "nan"/"inf" as floats; the lenient path reads them as no price.
        price=listing.price if listing.price is None or isfinite(listing.price) else None,
        beds=listing.beds,
        street=clean_text(address.street) or None,
        city=where.city,
        state=where.state,
        zip=where.zip,
        lat=where.lat,
        lon=where.lon,
        location_precision=where.precision,
        consent=inquiry.consent is True,
        message=clean_text(inquiry.message),
        listing_id=clean_text(listing.listing_id) or None,
    )


# The lenient path (`streams.parse.decode.coerce`): each scalar's accepted types and coercion.
_TOP: dict[str, Rule] = {
    "inquiry_id": TEXT, "submitted_at": TEXT, "intent": TEXT, "message": TEXT,
    "consent": ((bool,), parse_bool),
}  # fmt: skip
_LISTING: dict[str, Rule] = {
    "listing_id": TEXT, "price": ((int, float), parse_money), "beds": ((int,), parse_count),
    "baths": NUMBER, "property_type": TEXT, "lat": NUMBER, "lon": NUMBER,
}  # fmt: skip
_ADDRESS: dict[str, Rule] = {"street": TEXT, "city": TEXT, "state": TEXT, "zip": TEXT}
_CONTACT: dict[str, Rule] = {"name": TEXT, "email": TEXT, "phone": TEXT}


def _repair(event: Any) -> Any:
    """Coerce the scalars of a generically decoded inquiry, in place; see `decode_event`."""
    if not isinstance(event, dict):
        return event
    coerce(event, _TOP)
    listing = event.get("listing")
    if isinstance(listing, dict):
        coerce(listing, _LISTING)
        if isinstance(listing.get("address"), dict):
            coerce(listing["address"], _ADDRESS)
    if isinstance(event.get("contact"), dict):
        coerce(event["contact"], _CONTACT)
    return event
