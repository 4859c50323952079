"""CRM webhooks: the documented HubSpot-style event, batches, epoch times, every reason code."""

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
from streams.parse.crm import parse_crm
from tests.unit.streams.parse.fixtures import (
    AUSTIN,
    DELETE,
    FUZZ,
    NOON_MS,
    RECEIVED,
    assert_rejects,
    edited,
    encode,
    jane_in_austin,
    json_scalars,
    json_values,
    only_rejections,
)

# The example in schemas/raw.py, verbatim.
EXAMPLE: dict[str, Any] = {
    "objectId": 1234567,
    "subscriptionType": "contact.creation",
    "portalId": 62515,
    "occurredAt": 1777636800000,
    "properties": {
        "email": {"value": "jane@example.com"},
        "firstname": {"value": "Jane"},
        "lastname": {"value": "Doe"},
        "phone": {"value": "+1 512 555 0134"},
        "zip": {"value": "78701"},
        "city": {"value": "Austin"},
        "state": {"value": "TX"},
        "lead_intent": {"value": "buy"},
        "budget": {"value": "450000"},
        "createdate": {"value": "1777636800000"},
    },
}
EXPECTED = jane_in_austin("crm", "1234567", intent="buy", price=450_000.0)


def event(props: dict[str, object] | None = None, **top: object) -> dict[str, Any]:
    """EXAMPLE with property values replaced (wrapped as HubSpot does) and top-level edits."""
    wrapped = {name: v if v is DELETE else {"value": v} for name, v in (props or {}).items()}
    return edited(EXAMPLE, {"properties": edited(EXAMPLE["properties"], wrapped), **top})


def test_documented_example() -> None:
    assert parse_crm(encode(EXAMPLE), RECEIVED) == EXPECTED


@pytest.mark.parametrize(
    ("doc", "changes"),
    [
        # HubSpot posts arrays: one event is fine
        ([EXAMPLE], {}),
        # flat properties, as other CRMs send them
        ({**EXAMPLE, "properties": {k: v["value"] for k, v in EXAMPLE["properties"].items()}}, {}),
        # HubSpot's envelope fields and extra properties are ignored
        (event({"hs_object_id": "1234567", "lastmodifieddate": "1777636900000",
                "hs_analytics_source": "ORGANIC_SEARCH", "favourite_colour": "green"},
               eventId=99, subscriptionId=7, appId=1, attemptNumber=0, changeSource="FORM",
               changeFlag="NEW"), {}),
        # ids and times as numbers or strings
        (event(objectId="1234567"), {}),
        (event(objectId=1234567.0), {}),
        (event(objectId=123456789012345678901234567890),
         {"source_lead_id": "123456789012345678901234567890",
          "lead_id": lead_id("crm", "123456789012345678901234567890")}),
        (event({"createdate": NOON_MS}), {}),
        (event({"createdate": "2026-05-01T12:00:00.000Z"}), {}),
        (event({"createdate": DELETE}), {}),  # occurredAt, then
        (event({"createdate": DELETE}, occurredAt=str(NOON_MS)), {}),
        (event({"createdate": ""}), {}),
        (event({"createdate": DELETE}, occurredAt=1777636800), {}),  # seconds, not ms
        # contact variants
        (event({"phone": DELETE, "mobilephone": "(512) 555-0134"}), {}),
        (event({"email": " JANE@EXAMPLE.COM "}), {}),
        (event({"phone": "555"}), {"phone": None}),
        (event({"email": "jane@"}), {"email": None}),
        (event({"firstname": "JOSÉ", "lastname": "ÑÚÑEZ"}),
         {"first_name": "José", "last_name": "Ñúñez"}),
        (event({"firstname": DELETE, "lastname": DELETE, "name": "Jane Doe"}), {}),
        (event({"firstname": DELETE, "lastname": DELETE}), {"first_name": "", "last_name": ""}),
        # answers
        (event({"lead_intent": "Looking to sell"}), {"intent": "sell"}),
        (event({"lead_intent": DELETE, "buyer_or_seller": "Seller"}), {"intent": "sell"}),
        (event({"budget": 450000}), {}),
        (event({"budget": "$450k"}), {}),
        (event({"budget": ""}), {"price": None}),
        (event({"bedrooms": "3"}), {"beds": 3}),
        (event({"property_type": "Single Family"}), {"property_type": "single_family"}),
        (event({"message": "  Call me  "}), {"message": "Call me"}),
        (event({"address": "12 Oak St"}), {"street": "12 Oak St"}),
        (event({"ip_address": "203.0.113.7"}), {"ip": "203.0.113.7"}),
        (event({"utm_campaign": "spring"}), {"campaign_id": "spring"}),
        (event({"hs_legal_basis": "Freely given consent from contact"}), {"consent": True}),
        (event({"hs_legal_basis": "Legitimate interest - lead"}), {}),
        (event({"marketing_consent": "true"}), {"consent": True}),
        # location
        (event({"zip": 78701}), {}),
        (event({"zip": DELETE}), {"zip": None, "lat": AUSTIN.lat, "lon": AUSTIN.lon,
                                  "location_precision": "city"}),
        (event({"zip": DELETE, "city": DELETE}),
         {"zip": None, "city": None, "lat": None, "lon": None, "location_precision": "none"}),
        # property values that are not values
        (event({"budget": {"nested": 1}}), {"price": None}),
        (event({"budget": None}), {"price": None}),
        (event({"message": ["a", "b"]}), {}),
    ],
)  # fmt: skip
def test_variants(doc: object, changes: dict[str, object]) -> None:
    lead = parse_crm(encode(doc), RECEIVED)
    if lead.location_precision == "city":  # the city's point is a mean of its ZIPs
        changes = {**changes, "lat": lead.lat, "lon": lead.lon}
    assert lead == msgspec.structs.replace(EXPECTED, **changes)


def test_createdate_wins_over_occurred_at() -> None:
    # A property change on a contact made a year ago is not a fresh lead.
    doc = event({"createdate": str(NOON_MS - 365 * 86_400_000)}, occurredAt=NOON_MS)
    assert parse_crm(encode(doc), RECEIVED).event_time.year == 2025


def test_blank_object_id_falls_back_to_the_content_hash() -> None:
    raw = encode(event(objectId=""))
    assert parse_crm(raw, RECEIVED).source_lead_id == content_id(raw)


def test_byte_order_mark() -> None:
    assert parse_crm(b"\xef\xbb\xbf" + encode(EXAMPLE), RECEIVED) == EXPECTED


@pytest.mark.parametrize(
    ("raw", "error", "detail"),
    [
        (b"", BadJson, ""),
        (encode(EXAMPLE)[:-1], BadJson, ""),
        (b'{"objectId": 1, "properties": {"email": {"value": "jos\xe9@x.com"}}}', BadEncoding, ""),
        (encode([]), BadShape, "empty batch"),
        (encode([EXAMPLE, EXAMPLE]), BadShape, "batch of 2: send one event per message"),
        (encode([EXAMPLE] * 30), BadShape, "batch of 30"),
        (encode([EXAMPLE, "junk"]), BadShape, ""),
        (encode(event(objectId=DELETE)), BadShape, "objectId"),
        (encode(event(objectId=None)), BadShape, ""),
        (encode(event(objectId=True)), BadShape, ""),
        (encode(event(objectId={"id": 1})), BadShape, ""),
        (encode(event(properties="email=jane@example.com")), BadShape, ""),
        (encode(event(properties=[{"email": "jane@example.com"}])), BadShape, ""),
        (encode("contact.creation"), BadShape, ""),
        (encode(event({"createdate": DELETE}, occurredAt=DELETE)), BadTimestamp, "neither"),
        (encode(event({"createdate": DELETE}, occurredAt="soon")), BadTimestamp, "soon"),
        (encode(event({"createdate": "yesterday"})), BadTimestamp, ""),
        (encode(event({"createdate": 10**30})), BadTimestamp, ""),
        (encode(event({"email": DELETE, "phone": DELETE})), MissingContact, ""),
        (encode(event(properties={})), MissingContact, ""),
        (encode(event({"email": "jane@", "phone": DELETE})), BadEmail, ""),
        (encode(event({"email": DELETE, "phone": "555-0134"})), BadPhone, ""),
    ],
)  # fmt: skip
def test_rejections(raw: bytes, error: type[LeadRejected], detail: str) -> None:
    assert_rejects(error, parse_crm, raw, detail=detail)


# --- property-based: shaped junk (arbitrary bytes and JSON: test_registry.py) -----------------

plausible = st.sampled_from(
    ["jane@example.com", "(512) 555-0134", "78701", "450000", "$450k", "3", "buy", "TX",
     "Austin", str(NOON_MS), "1777636800", "2026-05-01T12:00:00Z", "", "nan"]
)  # fmt: skip
names = st.sampled_from(
    ["email", "firstname", "lastname", "phone", "mobilephone", "zip", "city", "state",
     "lead_intent", "budget", "bedrooms", "createdate", "hs_legal_basis", "ip_address"]
) | st.text(max_size=10)  # fmt: skip
values = plausible | json_values
crm_like = st.fixed_dictionaries(
    {
        "objectId": st.integers() | st.text(max_size=8) | json_scalars,
        "properties": st.dictionaries(names, st.builds(lambda v: {"value": v}, values) | values),
    },
    optional={
        "occurredAt": st.integers() | plausible | json_scalars,
        "subscriptionType": json_scalars,
    },
)


@FUZZ
@given(crm_like, st.booleans())
def test_crm_shaped_junk(doc: dict[str, object], batched: bool) -> None:
    only_rejections("crm", encode([doc] if batched else doc))
