"""The parser registry, the size limit, headers, and the fuzz contract: only rejections escape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas.contract import SOURCES
from schemas.lead import Lead, ScoredLead
from streams.errors import INTERNAL_ERROR, REASON_CODES, LeadRejected, Oversize, UnknownSource
from streams.parse import partner_mappings as partners
from streams.parse.crm import parse_crm
from streams.parse.facebook import parse_facebook
from streams.parse.partner import parse_partner
from streams.parse.portal import parse_portal
from streams.parse.registry import DEFAULT_MAX_BYTES, PARSERS, parse
from streams.parse.webform import parse_webform
from streams.validate import validate

RECEIVED = datetime(2026, 5, 1, 12, 0, 3, tzinfo=UTC)
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

# JSON numbers past int64 and float64's edges: msgspec decodes ints of ~400 digits.
huge_numbers = st.sampled_from([10**400, -(10**300), 2**64, 1.7e308, -1e-320, 5e-324])
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | huge_numbers
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


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


def _only_rejections(source: str, raw: bytes, headers: dict[str, str] | None = None) -> Lead | None:
    """Parse; a `Lead` must survive the trip to `leads.scored`, a failure must be a rejection."""
    try:
        lead = parse(source, raw, RECEIVED, headers=headers)
    except LeadRejected as rejected:  # anything else propagates and fails the test
        event(rejected.reason)
        if rejected.reason == "rejected" or not rejected.detail:
            raise AssertionError("a rejection needs a specific reason and a detail") from None
        return None
    event("lead")
    scored = ScoredLead(**msgspec.structs.asdict(lead))
    assert msgspec.json.decode(msgspec.json.encode(scored), type=ScoredLead) == scored
    return lead


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Headers as sources send them: a partner id (known or not) and a declared body syntax.
message_headers = st.fixed_dictionaries(
    {},
    optional={
        "x-partner-id": st.sampled_from([*partners.active(), "nope", ""]) | st.text(max_size=8),
        "content-type": st.sampled_from(
            ["application/json", "application/x-www-form-urlencoded; charset=latin-1", "text/csv"]
        )
        | st.text(max_size=20),
        "x-forwarded-for": st.sampled_from(["203.0.113.7, 10.0.0.1", "junk"]),
    },
)


@FUZZ
@given(
    source=st.sampled_from(sorted(PARSERS)), raw=st.binary(max_size=2000), headers=message_headers
)
def test_arbitrary_bytes(source: str, raw: bytes, headers: dict[str, str]) -> None:
    _only_rejections(source, raw, headers)


@FUZZ
@given(source=st.sampled_from(sorted(PARSERS)), value=json_values, headers=message_headers)
def test_arbitrary_json(source: str, value: object, headers: dict[str, str]) -> None:
    _only_rejections(source, msgspec.json.encode(value), headers)


# Arbitrary JSON rarely gets past the shape check. These keep the source's required keys
# valid and fill the rest mostly plausibly, otherwise with junk, so that every normaliser
# downstream sees junk too. (Junk in required keys: `test_arbitrary_json`.)
def _maybe(keys: dict[str, st.SearchStrategy[object]]) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries({}, optional=keys)


def _mostly(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(*[good] * 9, json_values)


text_or_junk = st.text(max_size=30) | json_scalars
ids = st.text(max_size=10) | st.integers()
timestamps = st.sampled_from(
    ["2026-05-01T12:00:00Z", "2026-05-01T12:00:00+0000", "1777636800", "05/01/2026"]
)
emails = st.sampled_from(["Jane@Example.com", " jane@example.com", "jane@", ""]) | st.emails()
phones = st.sampled_from(["(512) 555-0134", "+44 20 7946 0958", "555"]) | st.from_regex(
    r"\+?1? ?\(?[2-9]\d\d\)? ?\d{3}-?\d{4}", fullmatch=True
)
prices = json_scalars | st.sampled_from(["$450,000", "1.2M", "$3-4k", "nan", "1e999", "-1"])
counts = json_scalars | st.sampled_from(["3+", "studio", "-2", "1e999", "3.5"])
zips = st.sampled_from(["78701", "00000", "35270", "99999-1234"]) | json_scalars

portal_like = st.fixed_dictionaries(
    {"inquiry_id": ids, "submitted_at": timestamps},
    optional={
        "listing": _mostly(
            _maybe(
                {
                    "listing_id": json_scalars,
                    "price": prices,
                    "beds": counts,
                    "baths": json_scalars,
                    "property_type": text_or_junk,
                    "lat": st.floats() | json_scalars,
                    "lon": st.floats() | json_scalars,
                    "address": _mostly(
                        _maybe(
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
        "contact": _mostly(
            st.fixed_dictionaries(
                {"email": _mostly(emails)},
                optional={"name": text_or_junk, "phone": _mostly(phones)},
            )
        ),
        "intent": text_or_junk,
        "message": text_or_junk,
        "consent": json_scalars,
    },
)
facebook_answers = {
    "full_name": text_or_junk,
    "first_name": text_or_junk,
    "last_name": text_or_junk,
    "email": emails,
    "phone_number": phones,
    "phone": phones,
    "zip_code": zips,
    "post_code": zips,
    "city": text_or_junk,
    "state": text_or_junk,
    "street_address": text_or_junk,
    "are_you_looking_to_buy_or_sell?": text_or_junk,
    "what_is_your_budget?": prices,
    "property_type": text_or_junk,
    "bedrooms": counts,
    "consent": json_scalars,
    "comments": text_or_junk,
    "": text_or_junk,
}
facebook_fields = st.one_of(
    *(
        st.fixed_dictionaries({"name": st.just(name), "values": st.lists(answer, max_size=3)})
        for name, answer in facebook_answers.items()
    ),
)
facebook_fields = _mostly(facebook_fields)
facebook_like = st.fixed_dictionaries(
    {
        "id": ids,
        "created_time": timestamps,
        "field_data": st.lists(facebook_fields, max_size=12),
    },
    optional={"ad_id": ids, "form_id": ids, "campaign_id": st.none() | ids},
)


@FUZZ
@given(portal_like)
def test_portal_shaped_junk(event: dict[str, object]) -> None:
    _only_rejections("portal", msgspec.json.encode(event))


@FUZZ
@given(facebook_like)
def test_facebook_shaped_junk(event: dict[str, object]) -> None:
    _only_rejections("facebook", msgspec.json.encode(event))


def _portal(**fields: object) -> bytes:
    event = {
        "inquiry_id": "pi-1",
        "submitted_at": "2026-05-01T12:00:00Z",
        "contact": {"email": "jane@example.com"},
        **fields,
    }
    return msgspec.json.encode(event)


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
