"""Messy source values → canonical lead values: text, flags, intent, property, money, counts, IPs.

Contract: every normaliser accepts any decoded JSON value (`object`) and is total: it
returns a canonical value or `None`/`""`, never raises. Decoding and timestamps live in
`streams.parse.decode`, contact details (email, phone, names) in `streams.parse.contact`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from ipaddress import ip_address
from math import isfinite

from schemas.lead import Intent
from streams.parse.decode import int_to_float

# --- text and flags -----------------------------------------------------------------------


def clean_text(value: object) -> str:
    """Free text (messages, streets): stripped; non-text → ""."""
    return value.strip() if isinstance(value, str) else ""


_TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on", "agree", "i agree", "checked", "accepted"})


def parse_bool(value: object) -> bool | None:
    """Consent-style flags: True/"yes"/"I agree"/1 → True; other scalars → False; junk → None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    if isinstance(value, str):
        return value.strip().casefold() in _TRUE_WORDS
    return None


# --- categories ---------------------------------------------------------------------------

_INTENT_WORDS: tuple[tuple[re.Pattern[str], Intent], ...] = (
    (re.compile(r"\b(?:buy\w*|purchas\w*|invest\w*|looking for a home|compr\w*)\b"), "buy"),
    (
        re.compile(
            r"\b(?:sell\w*|list(?:ing)? my|list (?:a|my) (?:home|house|property)"
            r"|vend(?:er|o|iendo))\b"
        ),
        "sell",
    ),
    (re.compile(r"\b(?:rent\w*|leas\w*|tenant|alquil\w*)\b"), "rent"),
)


@lru_cache(maxsize=4096)
def _intent_of(text: str) -> Intent:
    # Several intents ("buy and sell"): the one mentioned first is the one the person leads with.
    best: tuple[int, Intent] | None = None
    for pattern, intent in _INTENT_WORDS:
        found = pattern.search(text)
        if found is not None and (best is None or found.start() < best[0]):
            best = (found.start(), intent)
    return best[1] if best is not None else "unknown"


def normalize_intent(value: object) -> Intent:
    """Free text → buy/sell/rent/unknown: "Buying", "looking_to_buy", "sell my home", "Rent".

    >>> normalize_intent("Looking to BUY"), normalize_intent("sell_my_home")
    ('buy', 'sell')
    """
    if not isinstance(value, str) or len(value) > 500:
        return "unknown"
    return _intent_of(value.casefold().replace("_", " "))


PROPERTY_TYPES = ("single_family", "condo", "townhouse", "multi_family", "land", "mobile", "other")
_PROPERTY_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"multi|duplex|triplex|fourplex|quadplex|\d ?- ?\d units?|apartment building"),
        "multi_family",
    ),
    (re.compile(r"town[ -]?(?:house|home)|row[ -]?house"), "townhouse"),
    (re.compile(r"condo|apartment|\bapt\b|co-?op|\bflat\b|loft"), "condo"),
    (re.compile(r"mobile|manufactured|trailer|modular"), "mobile"),
    (re.compile(r"\bland\b|\blots?\b|acre|vacant|farm|ranch"), "land"),
    (re.compile(r"single|detached|\bsfh?r?\b|house|home|bungalow|cottage|villa"), "single_family"),
)


@lru_cache(maxsize=1024)
def _property_type_of(text: str) -> str:
    for pattern, kind in _PROPERTY_WORDS:
        if pattern.search(text) is not None:
            return kind
    return "other"


def normalize_property_type(value: object) -> str | None:
    """Free text → one of `PROPERTY_TYPES`; empty or non-text → None.

    >>> normalize_property_type("Single-Family Home"), normalize_property_type("Townhome")
    ('single_family', 'townhouse')
    """
    if not isinstance(value, str):
        return None
    text = value.strip().casefold().replace("_", " ")
    if not text or len(text) > 200:
        return None
    return _property_type_of(text)


# --- numbers ------------------------------------------------------------------------------

_MONEY = re.compile(
    r"(\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)\s*(thousand|million|billion|mil|mm|k|m|b)?(?![a-z])"
)
# fmt: off
_SCALE = {
    "k": 1e3, "thousand": 1e3, "m": 1e6, "mm": 1e6, "mil": 1e6, "million": 1e6, "b": 1e9,
    "billion": 1e9,
}
# fmt: on


def parse_money(value: object) -> float | None:
    """USD amount: "$450,000", "450k", "1.2M", 450000 → float; ranges → midpoint.

    >>> parse_money("$450,000"), parse_money("1.2M"), parse_money("$300-400k")
    (450000.0, 1200000.0, 350000.0)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        return int_to_float(value)
    if not isinstance(value, str) or len(value) > 100:
        return None
    return _money_of(value)


@lru_cache(maxsize=4096)  # form answers are mostly multiple choice: few distinct strings
def _money_of(value: str) -> float | None:
    text = value.strip().casefold()
    amounts = _MONEY.findall(text)
    if not amounts:
        return None
    if len(amounts) >= 2:
        (low, low_unit), (high, high_unit) = amounts[:2]
        # "$300-400k": the unit written once applies to both ends.
        return (_amount(low, low_unit or high_unit) + _amount(high, high_unit)) / 2
    number = _amount(*amounts[0])
    return -number if text.lstrip("$ ").startswith("-") else number


def _amount(digits: str, unit: str) -> float:
    return float(digits.replace(",", "")) * _SCALE.get(unit, 1.0)


# fmt: off
_COUNT_WORDS = {
    "studio": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10,
}
# fmt: on
_DIGITS = re.compile(r"-?\d+")


def parse_count(value: object) -> int | None:
    """A count such as bedrooms: "3", "3+", "3 beds", 3.0, "three", "studio" → int.

    >>> parse_count("3+"), parse_count(3.0), parse_count("studio")
    (3, 3, 0)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if isfinite(value) else None
    if not isinstance(value, str) or len(value) > 100:
        return None
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    text = value.strip().casefold()
    found = _DIGITS.search(text)
    if found is None:
        first = text.split(maxsplit=1)
        return _COUNT_WORDS.get(first[0]) if first else None
    # Past 18 digits it is not a count; int() of huge strings is also slow and capped.
    return int(found.group()) if len(found.group()) <= 19 else None


# --- network ------------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)


def normalize_ip(value: object) -> str | None:
    """A client IP address in canonical text: IPv4 dotted quad (IPv4-mapped IPv6 too), else
    compressed IPv6.

    >>> normalize_ip(" 203.0.113.7 "), normalize_ip("2001:DB8::0:1"), normalize_ip("localhost")
    ('203.0.113.7', '2001:db8::1', None)
    """
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    if _IPV4.fullmatch(text) is not None:
        return text
    if ":" not in text:
        return None
    try:
        address = ip_address(text.strip("[]"))
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:203.0.113.7 is that IPv4 client
    return str(mapped or address)
