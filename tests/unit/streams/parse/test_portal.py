"""Portal inquiries: the documented example, messy real-world variants, every reason code."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import (
    BadEmail,
    BadEncoding,
    BadJson,
    BadPhone,
    BadShape,
    BadTimestamp,
    LeadRejected,
    MissingContact,
)
from streams.identity import content_id, lead_id
from streams.parse.geocode import city_point
from streams.parse.portal import parse_portal
from tests.unit.streams.parse.fixtures import (
    AUSTIN,
    DELETE,
    FUZZ,
    RECEIVED,
    assert_rejects,
    counts,
    edited,
    emails,
    encode,
    ids,
    jane_in_austin,
    json_scalars,
    maybe,
    mostly,
    only_rejections,
    phones,
    prices,
    text_or_junk,
    timestamps,
    zips,
)

# The example in schemas/raw.py, verbatim.
EXAMPLE: dict[str, Any] = {
    "inquiry_id": "pi-8f2c1e",
    "submitted_at": "2026-05-01T12:00:00Z",
    "listing": {
        "listing_id": "L-2231",
        "price": 455000,
        "beds": 3,
        "baths": 2,
        "property_type": "single_family",
        "lat": 30.2713,
        "lon": -97.7426,
        "address": {"street": "12 Oak St", "city": "Austin", "state": "TX", "zip": "78701"},
    },
    "contact": {"name": "Jane Doe", "email": "Jane@Example.com", "phone": "(512) 555-0134"},
    "intent": "buy",
    "message": "Is it still available?",
    "consent": True,
}

EXPECTED = jane_in_austin(
    "portal",
    "pi-8f2c1e",
    intent="buy",
    property_type="single_family",
    price=455000.0,
    beds=3,
    street="12 Oak St",
    lat=30.2713,
    lon=-97.7426,
    location_precision="exact",
    consent=True,
    message="Is it still available?",
    listing_id="L-2231",
)


def variant(*edits: tuple[str, object]) -> dict[str, Any]:
    """EXAMPLE with edits at dotted paths ("listing.price"); `DELETE` removes the key."""
    return edited(EXAMPLE, dict(edits), nested=True)


def test_documented_example() -> None:
    assert parse_portal(encode(EXAMPLE), RECEIVED) == EXPECTED


def test_bytes_as_the_source_wrote_them() -> None:
    raw = b"""{
      "inquiry_id": "pi-8f2c1e",   "submitted_at": "2026-05-01T12:00:00Z",
      "listing": {"listing_id": "L-2231", "price": 455000, "beds": 3, "baths": 2,
        "property_type": "single_family", "lat": 30.2713, "lon": -97.7426,
        "address": {"street": "12 Oak St", "city": "Austin", "state": "TX", "zip": "78701"}},
      "contact": {"name": "Jane Doe", "email": "Jane@Example.com", "phone": "(512) 555-0134"},
      "intent": "buy", "message": "Is it still available?", "consent": true
    }"""
    assert parse_portal(raw, RECEIVED) == EXPECTED


@pytest.mark.parametrize(
    ("edits", "changes"),
    [
        # numbers as strings, money as text, odd counts
        ((("listing.price", "455000"),), {}),
        ((("listing.price", "$455,000"),), {}),
        ((("listing.price", "455k"),), {}),
        ((("listing.price", "call for price"),), {"price": None}),
        ((("listing.price", "nan"),), {"price": None}),
        ((("listing.price", "inf"), ("listing.beds", "3+")), {"price": None}),
        ((("listing.price", "-5"),), {"price": -5.0}),  # parsed; validation rejects it
        ((("listing.beds", "3"),), {}),
        ((("listing.beds", "3+"),), {}),
        ((("listing.beds", 3.0),), {}),
        ((("listing.lat", "30.2713"), ("listing.lon", "-97.7426")), {}),
        ((("listing.listing_id", 2231),), {"listing_id": "2231"}),
        (
            (("inquiry_id", 8675309),),
            {"source_lead_id": "8675309", "lead_id": lead_id("portal", "8675309")},
        ),
        ((("listing.address.zip", 78701),), {}),
        ((("listing.address.zip", "78701-3208"),), {}),
        ((("consent", "yes"),), {}),
        ((("consent", "no"),), {"consent": False}),
        ((("consent", DELETE),), {"consent": False}),
        # contact formats
        ((("contact.email", "  JANE@EXAMPLE.COM "),), {}),
        ((("contact.phone", "+1 512-555-0134"),), {}),
        ((("contact.phone", "5125550134"),), {}),
        ((("contact.phone", 5125550134),), {}),
        ((("contact.phone", "555-0134"),), {"phone": None}),  # bad phone, good email
        ((("contact.email", "jane@"),), {"email": None}),  # bad email, good phone
        ((("contact.email", DELETE),), {"email": None}),
        # names
        ((("contact.name", "José Ñúñez"),), {"first_name": "José", "last_name": "Ñúñez"}),
        ((("contact.name", "李小龍"),), {"first_name": "李小龍", "last_name": ""}),
        ((("contact.name", "JANE DOE"),), {}),
        ((("contact.name", DELETE),), {"first_name": "", "last_name": ""}),
        ((("contact.name", None),), {"first_name": "", "last_name": ""}),
        # timestamps
        ((("submitted_at", "2026-05-01T07:00:00-05:00"),), {}),
        ((("submitted_at", "2026-05-01T12:00:00+0000"),), {}),
        ((("submitted_at", "2026-05-01 12:00:00"),), {}),
        ((("submitted_at", 1777636800),), {}),
        ((("submitted_at", 1777636800000),), {}),
        # categories
        ((("intent", "Looking to BUY"),), {}),
        ((("intent", "rent"),), {"intent": "rent"}),
        ((("intent", None),), {"intent": "unknown"}),
        ((("listing.property_type", "Condominium"),), {"property_type": "condo"}),
        # extra fields anywhere are ignored
        ((("utm", {"source": "google", "n": [1, 2]}), ("listing.hoa", 120)), {}),
        ((("listing.address.unit", "4B"),), {}),
        # text cleanup
        ((("message", "  Is it still available?\n"),), {}),
        ((("message", None),), {"message": ""}),
        ((("listing.address.street", "   "),), {"street": None}),
    ],
)
def test_messy_variants(edits: tuple[tuple[str, object], ...], changes: dict[str, object]) -> None:
    lead = parse_portal(encode(variant(*edits)), RECEIVED)
    assert lead == msgspec.structs.replace(EXPECTED, **changes)


def test_missing_optional_parts() -> None:
    event = {
        "inquiry_id": "pi-1",
        "submitted_at": "2026-05-01T12:00:00Z",
        "contact": {"phone": "512 555 0134"},
    }
    lead = parse_portal(encode(event), RECEIVED)
    assert (lead.phone, lead.email, lead.price, lead.listing_id) == (
        "+15125550134",
        None,
        None,
        None,
    )
    assert (lead.location_precision, lead.lat, lead.lon) == ("none", None, None)
    assert (lead.intent, lead.property_type, lead.consent) == ("unknown", None, False)


def test_location_from_zip() -> None:
    lead = parse_portal(encode(variant(("listing.lat", DELETE), ("listing.lon", None))), RECEIVED)
    assert (lead.lat, lead.lon, lead.location_precision) == (AUSTIN.lat, AUSTIN.lon, "zip")


def test_location_from_city() -> None:
    event = variant(("listing.lat", None), ("listing.lon", None), ("listing.address.zip", None))
    lead = parse_portal(encode(event), RECEIVED)
    assert (lead.lat, lead.lon) == city_point("Austin", "TX")
    assert lead.location_precision == "city"


def test_location_none() -> None:
    event = variant(("listing.lat", None), ("listing.address", None))
    lead = parse_portal(encode(event), RECEIVED)
    assert (lead.location_precision, lead.city, lead.state, lead.zip) == ("none", None, None, None)


def test_blank_id_falls_back_to_the_content_hash() -> None:
    raw = encode(variant(("inquiry_id", "  ")))
    lead = parse_portal(raw, RECEIVED)
    assert lead.source_lead_id == content_id(raw)
    assert lead.lead_id == lead_id("portal", content_id(raw))


def test_same_event_same_lead_id() -> None:
    first = parse_portal(encode(EXAMPLE), RECEIVED)
    again = parse_portal(encode(variant(("message", "resent"))), RECEIVED)
    assert first.lead_id == again.lead_id


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", BadJson),
        (b'{"inquiry_id": "pi-1", ', BadJson),
        (b"not json", BadJson),
        (encode(EXAMPLE)[:-1] + b"\xff}", BadEncoding),
        (encode(variant(("message", "café"))).replace("é".encode(), b"\xe9"), BadEncoding),
        (encode(EXAMPLE).decode().encode("utf-16"), BadEncoding),
        (b"[]", BadShape),
        (b'"just a string"', BadShape),
        (encode(variant(("inquiry_id", DELETE))), BadShape),
        (encode(variant(("submitted_at", DELETE))), BadShape),
        (encode(variant(("inquiry_id", ["pi-1"]))), BadShape),
        (encode(variant(("contact", "Jane Doe, jane@example.com"))), BadShape),
        (encode(variant(("listing", [1, 2]))), BadShape),
        (encode(variant(("listing.address", "12 Oak St"))), BadShape),
        (encode(variant(("contact.email", {"value": "jane@example.com"}))), BadShape),
        (encode(variant(("submitted_at", "last tuesday"))), BadTimestamp),
        (encode(variant(("submitted_at", "2026-02-30T12:00:00Z"))), BadTimestamp),
        (encode(variant(("contact", None))), MissingContact),
        (encode(variant(("contact", {"name": "Jane Doe"}))), MissingContact),
        (encode(variant(("contact.email", "jane@example"), ("contact.phone", None))), BadEmail),
        (encode(variant(("contact.email", "jane@"), ("contact.phone", "555"))), BadEmail),
        (encode(variant(("contact.email", None), ("contact.phone", "555-0134"))), BadPhone),
        (encode(variant(("contact.email", ""), ("contact.phone", "(123) 456-7890"))), BadPhone),
    ],
)
def test_rejections(raw: bytes, error: type[LeadRejected]) -> None:
    assert_rejects(error, parse_portal, raw)


def test_bad_shape_detail_is_msgspecs_message() -> None:
    with pytest.raises(BadShape, match=r"\$\.inquiry_id"):
        parse_portal(encode(variant(("inquiry_id", ["pi-1"]))), RECEIVED)


# --- property-based: shaped junk (arbitrary bytes and JSON: test_registry.py) -----------------

portal_like = st.fixed_dictionaries(
    {"inquiry_id": ids, "submitted_at": timestamps},
    optional={
        "listing": mostly(
            maybe(
                {
                    "listing_id": json_scalars,
                    "price": prices,
                    "beds": counts,
                    "baths": json_scalars,
                    "property_type": text_or_junk,
                    "lat": st.floats() | json_scalars,
                    "lon": st.floats() | json_scalars,
                    "address": mostly(
                        maybe(
                            {
                                "street": text_or_junk,
                                "city": text_or_junk,
                                "state": text_or_junk,
                                "zip": zips,
                            }
                        )
                    ),
                }
            )
        ),
        "contact": mostly(
            st.fixed_dictionaries(
                {"email": mostly(emails)},
                optional={"name": text_or_junk, "phone": mostly(phones)},
            )
        ),
        "intent": text_or_junk,
        "message": text_or_junk,
        "consent": json_scalars,
    },
)


@FUZZ
@given(portal_like)
def test_portal_shaped_junk(event: dict[str, object]) -> None:
    only_rejections("portal", encode(event))
