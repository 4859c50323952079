"""Website form posts: both documented examples, the many spellings of a form, every reason code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

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
from streams.parse.webform import _unquote, field_key, parse_webform
from tests.unit.streams.parse.fixtures import (
    DELETE,
    FUZZ,
    RECEIVED,
    assert_rejects,
    edited,
    jane_in_austin,
    json_values,
    known_zip,
    message_headers,
    only_rejections,
)
from tests.unit.streams.parse.fixtures import encode as as_json

BOSTON = known_zip("02134")

# The examples in schemas/raw.py (the URL-encoded one on one line).
FORM = (
    b"first_name=Jos%C3%A9&last_name=N%C3%BA%C3%B1ez&E-mail=jose%40example.com"
    b"&Phone+Number=%28512%29+555-0134&Zip+Code=78701&looking_to=Buy&budget=%24450k"
    b"&comments=Call+after+5pm&consent=on&form_id=contact-us&ip=203.0.113.7"
)
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded"}
FORM_EXPECTED = jane_in_austin(
    "webform",
    content_id(FORM),
    event_time=RECEIVED,  # no timestamp field: when it reached us
    first_name="José",
    last_name="Núñez",
    email="jose@example.com",
    intent="buy",
    price=450_000.0,
    consent=True,
    message="Call after 5pm",
    campaign_id="contact-us",
    ip="203.0.113.7",
)

POST: dict[str, Any] = {
    "submission_id": "wf-7781",
    "submitted": "5/1/2026 8:00 AM",
    "FullName": "Jane Doe",
    "Email": "Jane@Example.com",
    "phone": "512.555.0134",
    "postal_code": "78701",
    "looking_to": "sell",
    "message": "What is my house worth?",
    "ip": "203.0.113.7",
}
POST_EXPECTED = jane_in_austin(
    "webform",
    "wf-7781",
    event_time=datetime(2026, 5, 1, 8, 0, tzinfo=UTC),
    intent="sell",
    message="What is my house worth?",
    ip="203.0.113.7",
)


def post(**edits: object) -> dict[str, Any]:
    return edited(POST, edits)


def as_form(fields: dict[str, Any]) -> bytes:
    return urlencode(fields).encode()


def renamed(old: str, new: str) -> dict[str, Any]:
    return {(new if k == old else k): v for k, v in POST.items()}


def test_documented_form_example() -> None:
    assert parse_webform(FORM, RECEIVED, FORM_HEADERS) == FORM_EXPECTED
    assert parse_webform(FORM, RECEIVED) == FORM_EXPECTED  # sniffed


def test_documented_json_example() -> None:
    assert parse_webform(as_json(POST), RECEIVED) == POST_EXPECTED
    assert parse_webform(as_json(POST), RECEIVED, {"content-type": "application/json"}) == (
        POST_EXPECTED
    )


@pytest.mark.parametrize("encode", [as_json, as_form], ids=["json", "form"])
@pytest.mark.parametrize(
    ("fields", "changes"),
    [
        # the many spellings of the same form
        (renamed("Email", "email_address"), {}),
        (renamed("Email", "E-mail"), {}),
        (renamed("Email", "Email Address"), {}),
        (renamed("Email", "EMAIL"), {}),
        (renamed("Email", "contact[email]"), {}),
        (renamed("phone", "Phone Number"), {}),
        (renamed("phone", "tel"), {}),
        (renamed("phone", "Mobile"), {}),
        (renamed("postal_code", "Zip Code"), {}),
        (renamed("postal_code", "zip"), {}),
        (renamed("postal_code", "ZIPCODE"), {}),
        (renamed("FullName", "name"), {}),
        (renamed("FullName", "Your Name"), {}),
        (renamed("message", "comments"), {}),
        (renamed("message", "Questions?"), {}),
        (renamed("looking_to", "I am looking to"), {}),
        (renamed("looking_to", "interest"), {}),
        (renamed("submission_id", "entry_id"), {}),
        (renamed("submission_id", "id"), {}),
        (renamed("submitted", "submitted_at"), {}),
        (renamed("submitted", "Date Submitted"), {}),
        (renamed("ip", "ip_address"), {}),
        (renamed("ip", "REMOTE_ADDR"), {}),
        # names
        (post(FullName=DELETE, first_name="Jane", last_name="Doe"), {}),
        (post(FullName=DELETE, firstName="JANE", lastName="DOE"), {}),
        (post(FullName="José Ñúñez"), {"first_name": "José", "last_name": "Ñúñez"}),
        (post(FullName="  李小龍 "), {"first_name": "李小龍", "last_name": ""}),
        (post(FullName="Doe, Jane"), {}),
        (post(FullName=DELETE), {"first_name": "", "last_name": ""}),
        # contact messiness
        (post(Email=" JANE@EXAMPLE.COM "), {}),
        (post(phone="+1 (512) 555-0134"), {}),
        (post(phone="jane@"), {"phone": None}),
        (post(Email="not an email"), {"email": None}),
        # answers
        (post(looking_to="Buying a home"), {"intent": "buy"}),
        (post(looking_to="RENT"), {"intent": "rent"}),
        (post(looking_to=DELETE), {"intent": "unknown"}),
        (post(budget="$400k-$500k"), {"price": 450_000.0}),
        (post(budget="1.2M"), {"price": 1_200_000.0}),
        (post(**{"What's your budget?": "$450,000"}), {"price": 450_000.0}),
        (post(bedrooms="3+"), {"beds": 3}),
        (post(**{"Home Type": "Townhome"}), {"property_type": "townhouse"}),
        (post(consent="yes"), {"consent": True}),
        (post(tcpa_consent="I agree"), {"consent": True}),
        (post(consent="no"), {}),
        (post(listing_id="L-2231"), {"listing_id": "L-2231"}),
        (post(utm_campaign="spring-sale"), {"campaign_id": "spring-sale"}),
        (post(address="12 Oak St", city="Austin", state="Texas"), {"street": "12 Oak St"}),
        # location
        (post(postal_code="78701-3208"), {}),
        (
            post(postal_code=DELETE, lat="30.2713", lng="-97.7426"),
            {
                "zip": None,
                "city": None,
                "state": None,
                "lat": 30.2713,
                "lon": -97.7426,
                "location_precision": "exact",
            },
        ),
        (
            post(postal_code=DELETE),
            {
                "zip": None,
                "city": None,
                "state": None,
                "lat": None,
                "lon": None,
                "location_precision": "none",
            },
        ),
        # times in the shapes forms send
        (post(submitted="2026-05-01T08:00:00Z"), {}),
        (post(submitted="2026-05-01T03:00:00-05:00"), {}),
        (post(submitted="05/01/2026 08:00"), {}),
        (post(submitted="May 1, 2026 8:00 AM"), {}),
        (post(submitted="2026-05-01 08:00:00 UTC"), {}),
        (post(submitted="Fri, 01 May 2026 08:00:00 GMT"), {}),
        (post(submitted="1777622400000"), {}),
        (post(submitted="1777622400"), {}),
        (post(submitted=DELETE), {"event_time": RECEIVED}),
        (post(submitted=DELETE, date="next month"), {"event_time": RECEIVED}),
        (post(submitted=DELETE, date="05/01/2026 08:00"), {}),
        # extra fields are ignored
        (post(**{"g-recaptcha-response": "03AGdBq2", "_wpcf7": "42", "utm_source": "google"}), {}),
        (post(favourite_colour="green", how_did_you_hear="radio"), {}),
    ],
)
def test_field_variants(encode: Any, fields: dict[str, Any], changes: dict[str, object]) -> None:
    lead = parse_webform(encode(fields), RECEIVED)
    assert lead == msgspec.structs.replace(POST_EXPECTED, **changes)


@pytest.mark.parametrize(
    ("raw", "headers", "changes"),
    [
        # JSON numbers where the form said text
        (as_json(post(postal_code=78701, submission_id=7781)), {},
         {"source_lead_id": "7781", "lead_id": lead_id("webform", "7781")}),
        (as_json(post(budget=450000, bedrooms=3)), {}, {"price": 450_000.0, "beds": 3}),
        (as_json(post(postal_code=2134)), {},  # Boston, its leading 0 lost
         {"zip": "02134", "city": BOSTON.city, "state": "MA", "lat": BOSTON.lat,
          "lon": BOSTON.lon}),
        (as_json(post(submitted=1777622400000)), {}, {}),
        (as_json(post(consent=True)), {}, {"consent": True}),
        # a checkbox group, a ticked box
        (as_json(post(looking_to=["", "rent", "buy"])), {}, {"intent": "rent"}),
        (as_json(post(looking_to=DELETE, i_want_to_sell=True)), {}, {}),
        (as_form(post(looking_to=DELETE, i_want_to_sell="on")), {}, {}),
        # answers one level down, ids on top
        (as_json({"submission_id": "wf-7781", "form_id": "contact",
                  "fields": post(submission_id=DELETE)}), {}, {"campaign_id": "contact"}),
        (as_json({"data": post()}), {}, {}),
        (as_json({**post(), "meta": {"Email": "other@example.com"}}), {}, {}),
        # form syntax
        (FORM.replace(b"first_name=Jos%C3%A9", b"first_name=Jos\xc3\xa9"), {}, None),
        (b"?" + as_form(POST), {}, {}),
        (as_form(POST) + b"\r\n", {}, {}),
        (as_form(POST).replace(b"+", b"%20"), {}, {}),
        (as_form(POST) + b"&Email=other%40example.com", {}, {}),  # repeated: the first wins
        (as_form(POST) + b"&flag&=x", {}, {}),
        (
            urlencode(post(FullName="José Núñez"), encoding="latin-1").encode(),
            {"content-type": "application/x-www-form-urlencoded; charset=ISO-8859-1"},
            {"first_name": "José", "last_name": "Núñez"},
        ),
        # byte-order marks, whatever the syntax
        (b"\xef\xbb\xbf" + as_json(POST), {}, {}),
        (b"\xef\xbb\xbf" + as_form(POST), {}, {}),
        # the client IP
        (as_json(post(ip=DELETE)), {"x-forwarded-for": "198.51.100.4, 10.0.0.1"},
         {"ip": "198.51.100.4"}),
        (as_json(post(ip=DELETE)), {"x-real-ip": "2001:DB8::1"}, {"ip": "2001:db8::1"}),
        (as_json(post()), {"x-forwarded-for": "198.51.100.4"}, {}),  # the form's own wins
        (as_json(post(ip="not-an-ip")), {}, {"ip": None}),
        (as_json(post(ip=DELETE)), {}, {"ip": None}),
        # a content type that says nothing about the syntax: sniffed
        (as_json(POST), {"Content-Type": "text/plain"}, {}),
        (as_form(POST), {"content-type": "multipart/form-data"}, {}),
    ],
)  # fmt: skip
def test_body_variants(
    raw: bytes, headers: dict[str, str], changes: dict[str, object] | None
) -> None:
    lead = parse_webform(raw, RECEIVED, headers)
    if changes is None:  # raw UTF-8 in a form body: the same lead as the escaped example
        assert lead.first_name == "José"
        return
    expected = msgspec.structs.replace(POST_EXPECTED, **changes)
    assert lead == expected


def test_a_form_without_a_submission_id_is_named_by_form_time_and_contact() -> None:
    fields = post(submission_id=DELETE, form_id="valuation")
    lead = parse_webform(as_form(fields), RECEIVED)
    contact = content_id(b"jane@example.com")[:12]
    assert lead.source_lead_id == f"valuation@5/1/2026 8:00 AM~{contact}"
    assert lead.campaign_id == "valuation"
    # Re-sent in another syntax, the same submission is the same lead.
    assert parse_webform(as_json(fields), RECEIVED).lead_id == lead.lead_id
    other = parse_webform(as_form({**fields, "Email": "john@example.com"}), RECEIVED)
    assert other.lead_id != lead.lead_id


def test_a_form_without_ids_is_named_by_its_bytes() -> None:
    raw = as_form(post(submission_id=DELETE))
    assert parse_webform(raw, RECEIVED).source_lead_id == content_id(raw)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("Your email", "email"),
        ("Phone Number", "phone"),
        ("Zip Code", "zip"),
        ("firstName", "first_name"),
        ("FullName", "full_name"),
        ("What's your budget?", "price"),
        ("How many bedrooms?", "beds"),
        ("I'm looking to...", "intent"),
        ("Date Submitted", "event_time"),
        ("date", "maybe_time"),
        ("contact[email]", "email"),
        ("utm_source", None),
        ("g-recaptcha-response", None),
        ("", None),
        ("x" * 300, None),
    ],
)
def test_field_key(name: str, key: str | None) -> None:
    assert field_key(name) == key


JSON_TYPE = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("raw", "headers", "error"),
    [
        (b"", {}, BadShape),
        (b"   ", {}, BadShape),
        (b"", JSON_TYPE, BadJson),
        (b"<html><body>502 Bad Gateway</body></html>", {}, BadShape),
        (b"<html><body>502 Bad Gateway</body></html>", JSON_TYPE, BadJson),
        (b"name=Jane", JSON_TYPE, BadJson),
        (b'{"Email": "jane@example.com"', {}, BadJson),
        (b"[1, 2]", {}, BadShape),
        (b'[{"Email": "jane@example.com"}]', {}, BadShape),
        (b'"jane@example.com"', JSON_TYPE, BadShape),
        (b'{"Email": "jos\xe9@example.com"}', {}, BadEncoding),
        (b"Email=jos\xe9%40example.com", {}, BadEncoding),
        (b"Email=jos%E9%40example.com", {}, BadEncoding),  # a Latin-1 form, undeclared
        (b"Email=jane%40example.com", {"content-type": "application/x-www-form-urlencoded;"
                                       " charset=klingon"}, BadEncoding),
        ('{"Email": "jane@example.com"}'.encode("utf-16"), {}, BadEncoding),
        (as_json(post(submitted="yesterday")), {}, BadTimestamp),
        (as_form(post(submitted="{{submitted_at}}")), {}, BadTimestamp),
        (as_json(post(submitted="2026-13-45T25:61:00Z")), {}, BadTimestamp),
        (as_json(post(Email=DELETE, phone=DELETE)), {}, MissingContact),
        (as_form(post(Email="", phone=" ")), {}, MissingContact),
        (b"utm_source=google", {}, MissingContact),
        (as_json(post(Email="jane@", phone=DELETE)), {}, BadEmail),
        (as_json(post(Email="jane@", phone="555")), {}, BadEmail),
        (as_form(post(Email=DELETE, phone="555-0134")), {}, BadPhone),
    ],
)  # fmt: skip
def test_rejections(raw: bytes, headers: dict[str, str], error: type[LeadRejected]) -> None:
    assert_rejects(error, parse_webform, raw, headers)


# --- property-based: shaped junk (arbitrary bytes and JSON: test_registry.py) -----------------

known_names = st.sampled_from(
    ["Email", "phone", "Phone Number", "name", "first_name", "last_name", "zip", "Zip Code",
     "budget", "bedrooms", "looking_to", "submitted_at", "date", "id", "form_id", "ip", "lat",
     "lng", "consent", "message", "fields", "city", "state"]
)  # fmt: skip
plausible = st.sampled_from(
    ["jane@example.com", "(512) 555-0134", "78701", "$450k", "3+", "buy", "yes",
     "2026-05-01T12:00:00Z", "5/1/2026 8:00 AM", "1777636800000", "30.27", "-97.74", ""]
)  # fmt: skip
webform_like = st.dictionaries(known_names | st.text(max_size=12), plausible | json_values)


@FUZZ
@given(fields=webform_like, headers=message_headers)
def test_form_shaped_junk(fields: dict[str, object], headers: dict[str, str]) -> None:
    only_rejections("webform", as_json(fields), headers)
    flat = {k: v for k, v in fields.items() if isinstance(v, str)}
    only_rejections("webform", urlencode(flat).encode(), headers)


@FUZZ
@given(
    st.lists(
        st.sampled_from(["a", "+", " ", "=", "%", "%41", "%C3%A9", "%e9", "%zz", "%2", "%0A", "é"]),
        max_size=20,
    ).map("".join)
    | st.text().map(quote)
    | st.text()
)
def test_unquote_is_urllibs(text: str) -> None:
    try:
        expected = unquote_plus(text, errors="strict")
    except UnicodeDecodeError:
        with pytest.raises(UnicodeDecodeError):
            _unquote(text, "utf-8")
        return
    assert _unquote(text, "utf-8") == expected
