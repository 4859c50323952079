"""Normalisers: table tests on real-world values, property tests for totality."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import phonenumbers
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
from streams.normalize import (
    _EMAIL,
    _NANP_SHAPE,
    as_text,
    clean_name,
    decode_event,
    normalize_email,
    normalize_intent,
    normalize_phone,
    normalize_property_type,
    parse_bool,
    parse_count,
    parse_float,
    parse_money,
    parse_timestamp,
    resolve_contact,
    split_name,
)

huge_numbers = st.sampled_from([10**400, -(10**300), 2**64, 1.7e308, -1e-320, 5e-324])
json_scalars = st.none() | st.booleans() | st.integers() | huge_numbers | st.floats() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


# --- email --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane@example.com", "jane@example.com"),
        ("  Jane.Doe@Example.COM \n", "jane.doe@example.com"),
        ("JANE+homes@sub.example.co.uk", "jane+homes@sub.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("mailto:jane@example.com", "jane@example.com"),
        ("josé@exämple.com", "josé@exämple.com"),
        ("jane@xn--exmple-cua.com", "jane@xn--exmple-cua.com"),
    ],
)
def test_email_valid(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "jane",
        "jane@",
        "@example.com",
        "jane@@example.com",
        "jane doe@example.com",
        "jane@example",
        "jane@example.c",
        "jane@-example.com",
        "jane@example-.com",
        ".jane@example.com",
        "jane.@example.com",
        "ja..ne@example.com",
        "jane@exa_mple.com",
        "jane@example.123",
        "a" * 250 + "@example.com",
        None,
        42,
        ["jane@example.com"],
    ],
)
def test_email_invalid(raw: object) -> None:
    assert normalize_email(raw) is None


@given(st.emails() | st.text(alphabet=string.ascii_letters + string.digits + "@.-_+'", max_size=40))
def test_ascii_email_pattern_is_the_unicode_rule(text: str) -> None:
    email = text.strip().lower()
    unicode_rule = _EMAIL.fullmatch(email) is not None and "_" not in email.rpartition("@")[2]
    assert (normalize_email(text) is not None) == (unicode_rule and len(email) <= 254)


# --- phone --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(512) 555-0134", "+15125550134"),
        ("+1 512-555-0134", "+15125550134"),
        ("5125550134", "+15125550134"),
        ("512.555.0134", "+15125550134"),
        ("1-512-555-0134", "+15125550134"),
        ("+15125550134", "+15125550134"),
        ("  (512)555-0134 ", "+15125550134"),
        (5125550134, "+15125550134"),
        (5125550134.0, "+15125550134"),
        ("800-555-0199", "+18005550199"),  # toll free is a number people answer
        ("512-555-0134 ext. 12", "+15125550134"),  # E.164 has no extension
        ("+1 (416) 555-0134", "+14165550134"),  # Canada
        ("(787) 945-8485", "+17879458485"),  # Puerto Rico: its own region in phonenumbers
        ("+44 20 7946 0958", "+442079460958"),
        (
            "\uff15\uff11\uff12\uff15\uff15\uff15\uff10\uff11\uff13\uff14",
            "+15125550134",
        ),  # fullwidth
    ],
)
def test_phone_valid(raw: object, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "555-0134",
        "(555) 555-0134",
        "123-456-7890",
        "512-555-013",
        "512555013444",
        "not a phone",
        "+5125550134",
        True,
        None,
        {"number": "5125550134"},
        "9" * 100,
    ],
)
def test_phone_invalid(raw: object) -> None:
    assert normalize_phone(raw) is None


def _library_e164(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@given(st.from_regex(_NANP_SHAPE, fullmatch=True))
def test_phone_fast_path_agrees_with_phonenumbers(text: str) -> None:
    assert normalize_phone(text) == _library_e164(text)


def test_phone_agrees_with_phonenumbers_for_every_area_code() -> None:
    # Every NANP region (US, PR, CA, the Caribbean), exchanges either side of the rules.
    numbers = [
        f"{area}{line}"
        for area in range(200, 1000)
        for line in ("2345678", "5550134", "9110000", "1234567")
    ]
    assert [n for n in numbers if normalize_phone(n) != _library_e164(n)] == []


@given(st.text(alphabet="0123456789 ()+-.x", max_size=20))
def test_phone_agrees_with_phonenumbers_on_digit_soup(text: str) -> None:
    assert normalize_phone(text) == _library_e164(text.strip())


# --- contact ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "phone", "expected"),
    [
        ("Jane@Example.com", "(512) 555-0134", ("jane@example.com", "+15125550134")),
        ("jane@example.com", None, ("jane@example.com", None)),
        (None, "5125550134", (None, "+15125550134")),
        ("jane@example.com", "555", ("jane@example.com", None)),  # keep the good one
        ("not-an-email", "5125550134", (None, "+15125550134")),
        ("jane@example.com", "", ("jane@example.com", None)),
    ],
)
def test_resolve_contact_keeps_valid(email: object, phone: object, expected: tuple) -> None:
    assert resolve_contact(email, phone) == expected


@pytest.mark.parametrize(
    ("email", "phone", "error"),
    [
        (None, None, MissingContact),
        ("", "  ", MissingContact),
        ("not-an-email", None, BadEmail),
        ("not-an-email", "555", BadEmail),  # both bad: the email is named first
        (None, "555", BadPhone),
        ("   ", "(555) 555-0134", BadPhone),
    ],
)
def test_resolve_contact_rejects(email: object, phone: object, error: type) -> None:
    with pytest.raises(error):
        resolve_contact(email, phone)


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane Doe", ("Jane", "Doe")),
        ("  jane   doe ", ("Jane", "Doe")),
        ("JANE DOE", ("Jane", "Doe")),
        ("José Ñúñez", ("José", "Ñúñez")),
        ("JOSÉ ÑÚÑEZ", ("José", "Ñúñez")),
        ("Jose\u0301 N\u0303u\u0301n\u0303ez", ("José", "Ñúñez")),  # decomposed → NFC
        ("李小龍", ("李小龍", "")),
        ("李 小龍", ("小龍", "李")),  # family name first
        ("Cher", ("Cher", "")),
        ("Doe, Jane", ("Jane", "Doe")),
        ("Dr. Jane Doe", ("Jane", "Doe")),
        ("Mr Smith", ("Smith", "")),
        ("John Smith Jr.", ("John", "Smith Jr.")),
        ("John Smith, Jr.", ("John", "Smith Jr.")),
        ("Jane van der Berg", ("Jane", "van der Berg")),
        ("Mary Ann McDonald", ("Mary Ann", "McDonald")),
        ("o'brien", ("O'Brien", "")),
        ("mary-jane o'neil", ("Mary-Jane", "O'Neil")),
        ("", ("", "")),
        ("   ", ("", "")),
        (None, ("", "")),
        (12, ("", "")),
    ],
)
def test_split_name(raw: object, expected: tuple[str, str]) -> None:
    assert split_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("McDonald", "McDonald"), ("DeShawn", "DeShawn"), ("jane", "Jane"), ("ÉLODIE", "Élodie")],
)
def test_clean_name_title_cases_only_single_case(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


# --- categories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("buy", "buy"),
        ("Buying", "buy"),
        ("looking to buy", "buy"),
        ("looking_to_buy", "buy"),
        ("I want to purchase a home", "buy"),
        ("BUYER", "buy"),
        ("comprar", "buy"),
        ("sell my home", "sell"),
        ("Selling", "sell"),
        ("list my house", "sell"),
        ("seller", "sell"),
        ("rent", "rent"),
        ("Renting", "rent"),
        ("lease", "rent"),
        ("buy_and_sell", "buy"),
        ("sell then buy", "sell"),
        ("Just browsing", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
        (3, "unknown"),
        ("current home", "unknown"),  # "rent" inside a word is not renting
    ],
)
def test_intent(raw: object, expected: str) -> None:
    assert normalize_intent(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("single_family", "single_family"),
        ("Single-Family Home", "single_family"),
        ("House", "single_family"),
        ("SFR", "single_family"),
        ("condo", "condo"),
        ("Condominium", "condo"),
        ("Apartment", "condo"),
        ("co-op", "condo"),
        ("Townhome", "townhouse"),
        ("town house", "townhouse"),
        ("Duplex", "multi_family"),
        ("multi-family", "multi_family"),
        ("2-4 units", "multi_family"),
        ("Land", "land"),
        ("vacant lot", "land"),
        ("Mobile Home", "mobile"),
        ("manufactured", "mobile"),
        ("houseboat", "single_family"),
        ("Commercial", "other"),
        ("", None),
        ("  ", None),
        (None, None),
        (7, None),
    ],
)
def test_property_type(raw: object, expected: str | None) -> None:
    assert normalize_property_type(raw) == expected


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$450,000", 450_000.0),
        ("450k", 450_000.0),
        ("450K", 450_000.0),
        ("450000", 450_000.0),
        (450000.0, 450_000.0),
        (450000, 450_000.0),
        ("1.2M", 1_200_000.0),
        ("$1.2 million", 1_200_000.0),
        ("$450,000.00", 450_000.0),
        ("$300k-$400k", 350_000.0),
        ("$300-400k", 350_000.0),
        ("$300,000 - $400,000", 350_000.0),
        ("under_$250k", 250_000.0),
        ("$500k+", 500_000.0),
        ("-5000", -5000.0),
        ("not sure", None),
        ("", None),
        (None, None),
        (True, None),
        ({"amount": 1}, None),
        (10**400, None),  # a JSON integer no float can hold
    ],
)
def test_parse_money(raw: object, expected: float | None) -> None:
    assert parse_money(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3", 3),
        ("3+", 3),
        (3, 3),
        (3.0, 3),
        (3.7, 3),
        ("3 beds", 3),
        ("three", 3),
        ("Studio", 0),
        (" 4 ", 4),
        ("-1", -1),
        ("lots", None),
        ("", None),
        (None, None),
        (False, None),
        (float("nan"), None),
        (float("inf"), None),
        ("9" * 40, None),
    ],
)
def test_parse_count(raw: object, expected: int | None) -> None:
    assert parse_count(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30.27", 30.27),
        (30, 30.0),
        ("nan", None),
        ("inf", None),
        ("x", None),
        (True, None),
        (10**400, None),
    ],
)
def test_parse_float(raw: object, expected: float | None) -> None:
    assert parse_float(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        ("yes", True),
        ("I agree", True),
        (1, True),
        ("no", False),
        (0, False),
        ([], None),
    ],
)
def test_parse_bool(raw: object, expected: bool | None) -> None:
    assert parse_bool(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(12345, "12345"), (1.0, "1"), (1.5, "1.5"), ("x", "x"), (True, True), (None, None)],
)
def test_as_text(raw: object, expected: object) -> None:
    assert as_text(raw) == expected


# --- time ---------------------------------------------------------------------------------

NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-05-01T12:00:00Z", NOON),
        ("2026-05-01T12:00:00+00:00", NOON),
        ("2026-05-01T12:00:00+0000", NOON),  # Facebook: no colon in the offset
        ("2026-05-01T14:00:00+02:00", NOON),
        ("2026-05-01T07:00:00-0500", NOON),
        ("2026-05-01T12:00:00.000Z", NOON),
        ("2026-05-01T12:00:00.123456789Z", NOON + timedelta(microseconds=123456)),
        ("2026-05-01 12:00:00", NOON),  # naive: taken as UTC
        ("2026-05-01t12:00:00z", NOON),
        ("20260501T120000Z", NOON),
        ("05/01/2026 12:00", NOON),
        ("Fri, 01 May 2026 12:00:00 GMT", NOON),
        (1777636800, NOON),
        (1777636800000, NOON),
        ("1777636800", NOON),
        (1777636800.0, NOON),
        (datetime(2026, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))).isoformat(), NOON),
    ],
)
def test_parse_timestamp(raw: object, expected: datetime) -> None:
    parsed = parse_timestamp(raw)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-05-01T25:00:00Z",
        None,
        True,
        [],
        {},
        float("nan"),
        float("inf"),
        10**30,
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "x" * 1000,
    ],
)
def test_parse_timestamp_rejects(raw: object) -> None:
    with pytest.raises(BadTimestamp):
        parse_timestamp(raw)


@given(json_values)
def test_parse_timestamp_only_raises_bad_timestamp(value: object) -> None:
    try:
        parsed = parse_timestamp(value)
    except BadTimestamp:
        return
    assert parsed.tzinfo is UTC


@given(json_values)
def test_normalisers_are_total(value: object) -> None:
    for normalise in (
        normalize_email,
        normalize_phone,
        split_name,
        clean_name,
        normalize_intent,
        normalize_property_type,
        parse_money,
        parse_count,
        parse_float,
        parse_bool,
        as_text,
    ):
        normalise(value)


# --- decoding -----------------------------------------------------------------------------


class _Thing(msgspec.Struct, kw_only=True):
    id: str
    size: int | None = None


_thing_decoder = msgspec.json.Decoder(_Thing, strict=False)


def _repair_thing(obj: object) -> object:
    if isinstance(obj, dict) and "id" in obj:
        return {**obj, "id": as_text(obj["id"])}
    return obj


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"id": "a", "size": 3}', _Thing(id="a", size=3)),
        (b'{"id": "a", "size": "3"}', _Thing(id="a", size=3)),  # strict=False on the fast path
        (b'{"id": 17}', _Thing(id="17")),  # the repair path
        (b'\xef\xbb\xbf{"id": "a"}', _Thing(id="a")),  # a byte-order mark
        (b'{"id": "a", "extra": {"deep": [1, 2, {"x": null}]}}', _Thing(id="a")),
    ],
)
def test_decode_event(raw: bytes, expected: _Thing) -> None:
    assert decode_event(raw, _thing_decoder, _repair_thing) == expected


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"id": "a"', BadJson),
        (b"", BadJson),
        (b"\xff\xfe{}", BadEncoding),  # UTF-16
        ('{"id": "a"}'.encode("utf-16"), BadEncoding),
        (b'{"id": "caf\xe9"}', BadEncoding),  # latin-1, not UTF-8
        (b'{"id": "\\ud800"}', BadJson),  # a lone surrogate cannot become text
        (b"[" * 100_000 + b"]" * 100_000, BadJson),
        (b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", BadJson),
        (b'{"size": 3}', BadShape),
        (b'{"id": ["a"]}', BadShape),
        (b"[]", BadShape),
        (b'{"id": 1, garbage', BadJson),  # a type error first, then broken JSON
        (b'{"id": 1, "x": "\xff"}', BadEncoding),
    ],
)
def test_decode_event_rejects(raw: bytes, error: type[LeadRejected]) -> None:
    with pytest.raises(error):
        decode_event(raw, _thing_decoder, _repair_thing)
