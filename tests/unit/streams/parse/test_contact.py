"""Contact details: emails, phone numbers (fast path against phonenumbers), names."""

from __future__ import annotations

import string

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import BadEmail, BadPhone, MissingContact
from streams.parse.contact import (
    _EMAIL,
    _NANP_SHAPE,
    clean_name,
    normalize_email,
    normalize_phone,
    resolve_contact,
    split_name,
)
from tests.unit.streams.parse.fixtures import json_values

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


@given(json_values)
def test_normalisers_are_total(value: object) -> None:
    for normalise in (
        normalize_email,
        normalize_phone,
        split_name,
        clean_name,
    ):
        normalise(value)
