"""Value normalisers: table tests on real-world values, property tests for totality."""

from __future__ import annotations

import pytest
from hypothesis import given

from streams.parse.normalize import (
    normalize_intent,
    normalize_ip,
    normalize_property_type,
    parse_bool,
    parse_count,
    parse_money,
)
from tests.unit.streams.parse.fixtures import json_values

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
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7\n", "203.0.113.7"),
        ("0.0.0.0", "0.0.0.0"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("256.1.1.1", None),
        ("203.0.113", None),
        ("203.0.113.07", None),  # a leading zero: octal to some parsers, refused
        ("localhost", None),
        ("203.0.113.7, 10.0.0.1", None),  # a forwarded chain: the caller picks the client
        ("", None),
        (2130706433, None),
        (None, None),
    ],
)
def test_normalize_ip(raw: object, expected: str | None) -> None:
    assert normalize_ip(raw) == expected


@given(json_values)
def test_normalisers_are_total(value: object) -> None:
    for normalise in (
        normalize_intent,
        normalize_property_type,
        parse_money,
        parse_count,
        parse_bool,
        normalize_ip,
    ):
        normalise(value)
