"""Messy source values → canonical lead values; shared by every source parser.

Contract:
- Every normaliser accepts any decoded JSON value (`object`) and is total: it
  returns a canonical value or `None`/`""`, never raises. Only the functions
  that decide a reason code raise, and only `LeadRejected` subclasses:
  `decode_event` (BadEncoding / BadJson / BadShape), `parse_timestamp`
  (BadTimestamp) and `resolve_contact` (MissingContact / BadEmail / BadPhone).
- Lenient about scalars, strict about structure: a number sent as a string is
  coerced, an unparseable optional scalar becomes `None`; a wrong container
  (a string where an object belongs) or a missing required field is BadShape.
- Hot paths avoid `phonenumbers` (~60 µs a call): NANP numbers (+1: US, PR, CA, …)
  in the usual shapes are checked against phonenumbers' own metadata patterns directly,
  with the same answer (a property test holds the two together).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from math import isfinite
from typing import Any, TypeVar

import msgspec
import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

from schemas.lead import Intent
from streams.errors import (
    BadEmail,
    BadEncoding,
    BadJson,
    BadPhone,
    BadShape,
    BadTimestamp,
    MissingContact,
)

T = TypeVar("T")

# --- bytes → typed struct -----------------------------------------------------------------

_BOM = b"\xef\xbb\xbf"


def decode_event(raw: bytes, decoder: msgspec.json.Decoder[T], repair: Callable[[Any], Any]) -> T:
    """Decode `raw` into `decoder.type`: typed fast path, then `repair` + convert on mismatch.

    `decoder` should be built with `strict=False` so "455000" → 455000.0 on the fast path.
    `repair` gets the generic JSON value and coerces the source's scalars; it must be total.
    """
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError:
        pass  # valid JSON, messy types: the lenient path below
    except msgspec.DecodeError as exc:
        if raw[:3] == _BOM:  # some exporters prepend one; it is not a reason to lose a lead
            return decode_event(raw[3:], decoder, repair)
        raise _json_error(raw, exc) from None
    except UnicodeDecodeError as exc:
        raise BadEncoding(str(exc)) from None
    except RecursionError:
        raise BadJson("JSON nested too deeply") from None
    try:
        # The typed decode stops at the first mismatch, so the rest of `raw` is unchecked.
        loose = msgspec.json.decode(raw)
        return msgspec.convert(repair(loose), decoder.type, strict=False)
    except msgspec.ValidationError as exc:
        raise BadShape(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise _json_error(raw, exc) from None
    except UnicodeDecodeError as exc:
        raise BadEncoding(str(exc)) from None
    except RecursionError:
        raise BadJson("JSON nested too deeply") from None


def _json_error(raw: bytes, exc: msgspec.DecodeError) -> BadJson | BadEncoding:
    # msgspec reports bytes that are not UTF-8 outside strings (UTF-16, Latin-1) as bad JSON.
    try:
        bytes(raw).decode("utf-8")
    except UnicodeDecodeError as bad:
        return BadEncoding(str(bad))
    return BadJson(str(exc))


def as_text(value: object) -> object:
    """Scalars a source sent as numbers where text belongs (ids, zips) → str; the rest as is."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def clean_text(value: object) -> str:
    """Free text (messages, streets): stripped; non-text → ""."""
    return value.strip() if isinstance(value, str) else ""


def parse_float(value: object) -> float | None:
    """A finite float from a number or numeric string; anything else → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        number = value
    elif isinstance(value, int):
        return _int_to_float(value)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if isfinite(number) else None


def _int_to_float(value: int) -> float | None:
    # JSON integers are unbounded (msgspec decodes ~400 digits); floats stop near 1.8e308.
    try:
        return float(value)
    except OverflowError:
        return None


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


# --- email --------------------------------------------------------------------------------

# Syntactic only (RFC 5322 dot-atom local part, DNS-like labels, alphabetic TLD); unicode
# letters allowed (RFC 6531). Deliverability is not knowable here. The ASCII pattern is the
# same rule for lower-cased ASCII and about twice as fast as the unicode one.
_EMAIL_ASCII = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
)
_EMAIL = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})"
)


def normalize_email(value: object) -> str | None:
    """Trimmed, lower-cased address, or None when it is not syntactically an address.

    >>> normalize_email("  Jane.Doe@Example.COM ")
    'jane.doe@example.com'
    >>> normalize_email("jane@@example.com") is None
    True
    """
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    if email.startswith("mailto:"):
        email = email[7:]
    if len(email) > 254:
        return None
    if email.isascii():
        return email if _EMAIL_ASCII.fullmatch(email) is not None else None
    if _EMAIL.fullmatch(email) is None:
        return None
    # `_EMAIL` lets "_" inside domain labels (cheaper than excluding it in the pattern).
    return None if "_" in email.rpartition("@")[2] else email


# --- phone --------------------------------------------------------------------------------


def _valid_pattern(metadata: PhoneMetadata) -> re.Pattern[str]:
    """phonenumbers' validity test for a region's 10-digit national numbers, as one regex.

    Mirrors `_number_type_helper`: the general pattern and any number-type pattern.
    """
    descs = (
        metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
        metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail,
        metadata.fixed_line, metadata.mobile,
    )  # fmt: skip
    types = "|".join(
        desc.national_number_pattern
        for desc in descs
        if desc is not None
        and desc.national_number_pattern
        and (not desc.possible_length or 10 in desc.possible_length)
    )
    general = metadata.general_desc.national_number_pattern
    return re.compile(f"(?=(?:{general})$)(?:{types or '(?!)'})", re.ASCII)


def _nanp_regions() -> tuple[tuple[re.Pattern[str] | None, re.Pattern[str]], ...]:
    regions = []
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:  # US first, then AG … VI
        metadata = PhoneMetadata.metadata_for_region(code)
        if metadata is not None:
            leading = metadata.leading_digits
            regions.append(
                (re.compile(leading, re.ASCII) if leading else None, _valid_pattern(metadata))
            )
    return tuple(regions)


_NANP_REGIONS = _nanp_regions()


def _nanp_valid(national: str) -> bool:
    """`is_valid_number` for +1 `national` (10 ASCII digits), without building a number.

    Same walk as phonenumbers' `_region_code_for_number_from_list`: the first region whose
    leading digits match decides; regions without leading digits (US, CA) claim a number
    only when it is valid for them.
    """
    for leading, valid in _NANP_REGIONS:
        if leading is None:
            if valid.fullmatch(national) is not None:
                return True
        elif leading.match(national) is not None:
            return valid.fullmatch(national) is not None
    return False


# A NANP number in the usual punctuation: phonenumbers would read it as +1 and these 10
# digits. Other digits (fullwidth, Arabic-Indic) take the slow path, which maps them.
_NANP_SHAPE = re.compile(r"(?:\+?1[ .-]?)?\(?([2-9]\d\d)\)?[ .-]?(\d{3})[ .-]?(\d{4})", re.ASCII)


def normalize_phone(value: object) -> str | None:
    """E.164 for a valid number (default region US), else None.

    >>> normalize_phone("(512) 555-0134")
    '+15125550134'
    """
    if not isinstance(value, str):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        value = str(as_text(value))
    text = value.strip()
    shape = _NANP_SHAPE.fullmatch(text)
    if shape is not None:
        national = "".join(shape.groups())
        return "+1" + national if _nanp_valid(national) else None
    # Other countries, extensions, letters, odd punctuation: the full library.
    return _phone_slow(text) if len(text) <= 64 else None


@lru_cache(maxsize=8192)
def _phone_slow(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _present(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and not isinstance(value, bool)


def resolve_contact(email: object, phone: object) -> tuple[str | None, str | None]:
    """(email, phone) with invalid ones dropped; raise when no valid contact remains.

    No valid contact: BadEmail if an email was given, else BadPhone if a phone was given,
    else MissingContact. Details name the problem, not the value (DLQ logs are not PII stores).
    """
    good_email = normalize_email(email)
    good_phone = normalize_phone(phone)
    if good_email is None and good_phone is None:
        if _present(email):
            also = " (and the phone is not a valid number)" if _present(phone) else ""
            raise BadEmail(f"email is not a syntactically valid address{also}")
        if _present(phone):
            raise BadPhone("phone is not a valid number and no valid email was given")
        raise MissingContact("neither an email nor a phone number was given")
    return good_email, good_phone


# --- names --------------------------------------------------------------------------------

_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof"})
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"})
# fmt: off
_PARTICLES = frozenset({
    "van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "dos", "das", "la", "le",
    "bin", "ibn", "al", "el", "ter", "ten",
})
# fmt: on
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def clean_name(value: object) -> str:
    """Whitespace-collapsed NFC text; title-cased only when all-lower or all-upper.

    >>> clean_name("  JOSÉ   ÑÚÑEZ ")
    'José Ñúñez'
    >>> clean_name("McDonald")
    'McDonald'
    """
    if not isinstance(value, str):
        return ""
    text = " ".join(value.split())
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if text.islower() or text.isupper():
        text = text.title()
    return text


def _bare(token: str) -> str:
    return token.rstrip(".").casefold()


def split_name(value: object) -> tuple[str, str]:
    """A full name → (first, last): "Jane van der Berg" → ("Jane", "van der Berg").

    "Doe, Jane" is inverted; honorifics are dropped; suffixes stay with the last name.
    CJK names written with a space are family-name first; unspaced ones ("李小龍") stay whole
    in `first` because where the family name ends is not knowable from the text.
    """
    text = clean_name(value)
    if not text:
        return "", ""
    tokens = text.split(" ")
    if (
        len(tokens) == 2
        and "," not in text
        and "." not in text
        and (text.isascii() or _CJK.search(text) is None)
        and tokens[0].casefold() not in _HONORIFICS
    ):
        return tokens[0], tokens[1]  # "Jane Doe", "José Ñúñez": most names skip the rules
    if text.count(",") == 1:
        before, after = (part.strip() for part in text.split(","))
        if before and after and _bare(after) not in _SUFFIXES:
            return after, before
        text = f"{before} {after}".strip()
    tokens = text.split()
    while len(tokens) > 1 and _bare(tokens[0]) in _HONORIFICS:
        tokens.pop(0)
    if len(tokens) == 1:
        return tokens[0], ""
    if _CJK.search(text) is not None and _LATIN.search(text) is None:
        return " ".join(tokens[1:]), tokens[0]
    start = len(tokens) - 1
    if _bare(tokens[-1]) in _SUFFIXES and len(tokens) > 2:
        start -= 1
    while start > 1 and _bare(tokens[start - 1]) in _PARTICLES:
        start -= 1
    return " ".join(tokens[:start]), " ".join(tokens[start:])


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
        return _int_to_float(value)
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


# --- time ---------------------------------------------------------------------------------

_US_DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")


def parse_timestamp(value: object) -> datetime:
    """A UTC-aware datetime from ISO-8601 (Z, ±HH:MM or ±HHMM), epoch s/ms, RFC 2822, m/d/Y.

    Naive times are taken as UTC. Anything else raises BadTimestamp.

    >>> parse_timestamp("2026-05-01T12:00:00+0200").isoformat()
    '2026-05-01T10:00:00+00:00'
    """
    try:
        moment = _parse_moment(value)
        if moment is None:
            raise BadTimestamp(f"unparseable timestamp {str(value)[:64]!r}")
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        # ValueError covers out-of-range fields; OverflowError/OSError come from converting
        # times at the edges of datetime's range or the platform's epoch range.
        raise BadTimestamp(f"timestamp out of range {str(value)[:64]!r}") from None


def _parse_moment(value: object) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    epoch = parse_float(text)
    if epoch is not None:
        return _from_epoch(epoch)
    try:
        return datetime.fromisoformat(text.upper())  # "2026-05-01t12:00:00z"
    except ValueError:
        pass
    for layout in _US_DATE_FORMATS:
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    try:
        return parsedate_to_datetime(text)  # "Fri, 01 May 2026 12:00:00 GMT"
    except (TypeError, ValueError, IndexError):
        return None


def _from_epoch(seconds: float) -> datetime | None:
    if not isfinite(seconds):
        return None
    if abs(seconds) >= 1e14:  # microseconds
        seconds /= 1e6
    elif abs(seconds) >= 1e11:  # milliseconds (1e11 s is the year 5138)
        seconds /= 1e3
    return datetime.fromtimestamp(seconds, UTC)
