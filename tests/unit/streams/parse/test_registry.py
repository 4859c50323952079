"""The parser registry, the size limit, headers, and the fuzz contract: only rejections escape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.contract import SOURCES
from schemas.lead import Lead
from streams.errors import INTERNAL_ERROR, REASON_CODES, LeadRejected, Oversize, UnknownSource
from streams.parse.crm import parse_crm
from streams.parse.facebook import parse_facebook
from streams.parse.partner import parse_partner
from streams.parse.portal import parse_portal
from streams.parse.registry import DEFAULT_MAX_BYTES, PARSERS, parse
from streams.parse.webform import parse_webform
from streams.validate import validate
from tests.unit.streams.parse.fixtures import (
    FUZZ,
    RECEIVED,
    encode,
    json_values,
    message_headers,
    only_rejections,
)

PORTAL = (
    b'{"inquiry_id": "pi-1", "submitted_at": "2026-05-01T12:00:00Z",'
    b' "contact": {"email": "jane@example.com"}}'
)
FACEBOOK = (
    b'{"id": "1", "created_time": "2026-05-01T12:00:00+0000",'
    b' "field_data": [{"name": "email", "values": ["jane@example.com"]}]}'
)
WEBFORM = b"Email=jane%40example.com&Name=Jane+Doe"
PARTNER = b"HQ-1,2026-05-01 12:00:00,Jane,Doe,jane@example.com,,,,,,,,,,,\r\n"
PARTNER_HEADERS = {"x-partner-id": "homequest"}
CRM = (
    b'{"objectId": 1, "occurredAt": 1777636800000,'
    b' "properties": {"email": {"value": "jane@example.com"}}}'
)
SAMPLES: dict[str, tuple[bytes, dict[str, str]]] = {
    "portal": (PORTAL, {}),
    "facebook": (FACEBOOK, {}),
    "webform": (WEBFORM, {}),
    "partner": (PARTNER, PARTNER_HEADERS),
    "crm": (CRM, {}),
}


def test_registry_holds_every_source() -> None:
    assert dict(PARSERS) == {
        "portal": parse_portal,
        "facebook": parse_facebook,
        "webform": parse_webform,
        "partner": parse_partner,
        "crm": parse_crm,
    }
    assert set(PARSERS) == set(SOURCES)


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_dispatch(source: str) -> None:
    raw, headers = SAMPLES[source]
    lead = parse(source, raw, RECEIVED, headers=headers)
    assert (lead.source, lead.email, lead.received_time) == (source, "jane@example.com", RECEIVED)


def test_headers_are_optional_for_sources_that_do_not_read_them() -> None:
    for source in ("portal", "facebook", "webform", "crm"):
        raw, _ = SAMPLES[source]
        assert parse(source, raw, RECEIVED) == parse(source, raw, RECEIVED, headers={"x": "y"})


def test_partner_rows_need_their_header() -> None:
    with pytest.raises(LeadRejected) as caught:
        parse("partner", PARTNER, RECEIVED)
    assert caught.value.reason == "unknown_partner"


@pytest.mark.parametrize("source", ["", "Portal", "fax", "leads.raw.portal", "x" * 1000])
def test_unknown_source(source: str) -> None:
    with pytest.raises(UnknownSource):
        parse(source, PORTAL, RECEIVED)


def test_oversize_default_limit() -> None:
    padded = PORTAL[:-1] + b', "message": "' + b"x" * DEFAULT_MAX_BYTES + b'"}'
    with pytest.raises(Oversize):
        parse("portal", padded, RECEIVED)


def test_oversize_limit_is_a_parameter() -> None:
    assert parse("portal", PORTAL, RECEIVED, max_bytes=len(PORTAL)).source == "portal"
    with pytest.raises(Oversize):
        parse("portal", PORTAL, RECEIVED, max_bytes=len(PORTAL) - 1)


# --- property-based: only rejections escape (each source's shaped junk: in its own file) -------


@pytest.mark.parametrize("source", sorted(PARSERS))
@FUZZ
@given(raw=st.binary(max_size=2000), headers=message_headers)
def test_arbitrary_bytes(source: str, raw: bytes, headers: dict[str, str]) -> None:
    only_rejections(source, raw, headers)


@pytest.mark.parametrize("source", sorted(PARSERS))
@FUZZ
@given(value=json_values, headers=message_headers)
def test_arbitrary_json(source: str, value: object, headers: dict[str, str]) -> None:
    only_rejections(source, encode(value), headers)


# --- every reason code can happen ------------------------------------------------------------


def _portal(**fields: object) -> bytes:
    event = {
        "inquiry_id": "pi-1",
        "submitted_at": "2026-05-01T12:00:00Z",
        "contact": {"email": "jane@example.com"},
        **fields,
    }
    return encode(event)


REACH: dict[str, tuple[str, bytes] | tuple[str, bytes, dict[str, str]]] = {
    "bad_encoding": ("portal", b'{"inquiry_id": "caf\xe9"}'),
    "bad_json": ("facebook", b'{"id": '),
    "bad_shape": ("facebook", b'{"id": "1"}'),
    "oversize": ("portal", _portal(message="x" * DEFAULT_MAX_BYTES)),
    "unknown_source": ("fax", PORTAL),
    "unknown_partner": ("partner", PARTNER, {"x-partner-id": "acme"}),
    "missing_contact": ("portal", _portal(contact={"name": "Jane Doe"})),
    "bad_email": ("portal", _portal(contact={"email": "jane@"})),
    "bad_phone": ("portal", _portal(contact={"phone": "555-0134"})),
    "bad_timestamp": ("portal", _portal(submitted_at="soon")),
    "too_old": ("portal", _portal(submitted_at="2020-01-01T00:00:00Z")),
    "in_future": ("portal", _portal(submitted_at="2027-01-01T00:00:00Z")),
    "out_of_area": ("portal", _portal(listing={"lat": 51.5074, "lon": -0.1278})),
    "bad_value": ("portal", _portal(listing={"price": -1})),
}


@pytest.mark.parametrize("reason", sorted(REACH))
def test_reason_is_reachable(reason: str) -> None:
    source, raw, *headers = REACH[reason]
    with pytest.raises(LeadRejected) as caught:
        _parse_and_validate(source, raw, *headers)
    assert caught.value.reason == reason


def _parse_and_validate(source: str, raw: bytes, headers: dict[str, str] | None = None) -> Lead:
    lead = parse(source, raw, RECEIVED, headers=headers)
    return validate(lead, RECEIVED, max_age=timedelta(days=30), max_skew=timedelta(minutes=5))


def test_every_reason_code_is_covered() -> None:
    assert set(REACH) == set(REASON_CODES) - {INTERNAL_ERROR}
