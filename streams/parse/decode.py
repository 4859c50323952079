"""Bytes → values: decoding source events, repairing their scalars, reading their timestamps.

Contract:
- `decode_event` (JSON into a typed struct) raises BadEncoding / BadJson / BadShape;
  `decode_text` (text formats: forms, CSV rows) raises BadEncoding; `parse_timestamp`
  (any common shape) and `parse_layout` (a declared strptime layout) raise
  BadTimestamp. Nothing here raises anything else.
- Repair helpers (`as_text`, `parse_float`, `coerce` with its `Rule`s) accept any decoded
  JSON value and are total: lenient about scalars, strict about structure. A number sent
  as a string is coerced, an unparseable optional scalar becomes `None`; a wrong container
  (a string where an object belongs) is left for msgspec to reject as BadShape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from functools import lru_cache
from math import isfinite
from types import MappingProxyType
from typing import Any, TypeVar

import msgspec

from streams.errors import BadEncoding, BadJson, BadShape, BadTimestamp

T = TypeVar("T")

#: The message headers of an event that came without any (parsers take a read-only mapping).
NO_HEADERS: Mapping[str, str] = MappingProxyType({})

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


# --- scalars ------------------------------------------------------------------------------


def as_text(value: object) -> object:
    """Scalars a source sent as numbers where text belongs (ids, zips) → str; the rest as is."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def decode_text(raw: bytes) -> str:
    """UTF-8 text of a non-JSON body (form post, CSV row), a leading byte-order mark dropped."""
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadEncoding(str(exc)) from None
    return text[1:] if text[:1] == "\ufeff" else text


def parse_float(value: object) -> float | None:
    """A finite float from a number or numeric string; anything else → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        number = value
    elif isinstance(value, int):
        return int_to_float(value)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if isfinite(number) else None


def int_to_float(value: int) -> float | None:
    # JSON integers are unbounded (msgspec decodes ~400 digits); floats stop near 1.8e308.
    try:
        return float(value)
    except OverflowError:
        return None


# The lenient path of `decode_event`: for each scalar field, the types msgspec takes as they
# are and the coercion for anything else (containers are left to msgspec, which rejects
# wrong ones).
Rule = tuple[tuple[type, ...], Callable[[Any], Any]]
TEXT: Rule = ((str,), as_text)
NUMBER: Rule = ((int, float), parse_float)


def coerce(obj: dict[str, Any], rules: dict[str, Rule]) -> None:
    """Apply `rules` to the fields of a generically decoded object, in place."""
    for key, (fine, convert) in rules.items():
        value = obj.get(key)
        # bool is an int: a `true` price must still go through its coercion (→ None).
        if value is not None and (type(value) not in fine):
            obj[key] = convert(value)


# --- time ---------------------------------------------------------------------------------

# What form builders and spreadsheet exports write when they do not write ISO: numeric
# dates in US order (these are US leads) unless the year leads, or month names; a 12- or
# 24-hour clock. Regexes rather than `strptime` layouts: a failed strptime costs ~25 µs.
_CLOCK = (
    r"(?:[ ,T@]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([ap])?\.?m?\.?"
    r"(?:\s*(Z|UTC|GMT|[+-]\d\d:?\d\d))?)?"  # RFC 2822 and friends state a zone
)
_NUMERIC_DATE = re.compile(r"(\d{1,4})([/.-])(\d{1,2})\2(\d{1,4})" + _CLOCK, re.ASCII | re.I)
_WORD_DATE = re.compile(
    r"(?:[a-z]{3,9}\.?,?\s+)?"  # a weekday
    r"(?:(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]{3,9})\.?|([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?)"
    r",?\s+(\d{4})" + _CLOCK,
    re.ASCII | re.I,
)
# fmt: off
_MONTHS = {
    name: number
    for number, names in enumerate((
        ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
        ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
        ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
        ("dec", "december"),
    ), start=1)
    for name in names
}
# fmt: on
_ZONE_WORDS = (" UTC", " GMT", " Z")


def parse_timestamp(value: object, zone: tzinfo = UTC) -> datetime:
    """A UTC-aware datetime from ISO-8601 (Z, ±HH:MM or ±HHMM), epoch s/ms/µs, RFC 2822,
    m/d/Y (12- or 24-hour), Y/m/d, or month names ("May 1, 2026 8:00 AM").

    Times without an offset are taken in `zone` (UTC unless the source says otherwise).
    Anything else raises BadTimestamp.

    >>> parse_timestamp("2026-05-01T12:00:00+0200").isoformat()
    '2026-05-01T10:00:00+00:00'
    """
    try:
        moment = _parse_moment(value)
        if moment is None:
            raise BadTimestamp(f"unparseable timestamp {str(value)[:64]!r}")
        if moment.tzinfo is None:
            if zone is UTC:
                return moment.replace(tzinfo=UTC)
            moment = moment.replace(tzinfo=zone)
        elif moment.tzinfo is UTC:
            return moment  # "Z", "+00:00", epochs: most sources; astimezone would copy it
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
    if (
        text[4:5] != "-"  # ISO's "2026-": not a number, and the common case skips the regex
        and _EPOCH.fullmatch(text) is not None
        and (len(text) > 8 or not text.isdigit())
    ):
        # Epoch seconds or milliseconds as text (CRMs send them so). fromisoformat would read
        # many as basic-format ISO: "1778090240138" is 1778-09-02T01:38:00 to it. Eight
        # digits are a basic-format date ("20260501").
        return _from_epoch(float(text))
    # fromisoformat only takes text that starts with a four-digit year and ends with a digit
    # or Z; asking it about anything else costs a raised ValueError (~1.5 µs) for nothing.
    iso = text[:4].isdigit() and (text[-1:].isdigit() or text[-1:] in "Zz")
    if iso:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    upper = text.upper()
    if upper.endswith(_ZONE_WORDS):  # "2026-05-01 12:00:00 UTC"
        if upper[:4].isdigit():
            try:
                return datetime.fromisoformat(upper.rpartition(" ")[0]).replace(tzinfo=UTC)
            except ValueError:
                pass
    elif iso and upper != text:
        try:
            return datetime.fromisoformat(upper)  # "2026-05-01t12:00:00z"
        except ValueError:
            pass
    moment = _numeric_or_worded(text)
    if moment is not None:
        return moment
    try:
        return parsedate_to_datetime(text)  # "Fri, 01 May 2026 12:00:00 EDT"
    except (TypeError, ValueError, IndexError):
        return None


_EPOCH = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?", re.ASCII)


def _numeric_or_worded(text: str) -> datetime | None:
    """ "5/1/2026 8:00 PM", "2026/05/01 12:00", "05-01-26", "May 1st, 2026 8am", "1 May 2026"."""
    found = _NUMERIC_DATE.fullmatch(text)
    if found is not None:
        first, _, second, third, *clock = found.groups()
        if len(first) == 4:
            year, month, day = int(first), int(second), int(third)
        elif len(third) in (2, 4):
            month, day, year = int(first), int(second), int(third)
            year += 2000 if year < 100 else 0
        else:
            return None
        return _at(year, month, day, *clock)
    found = _WORD_DATE.fullmatch(text)
    if found is None:
        return None
    day_first, month_after, month_first, day_after, year, *clock = found.groups()
    month = _MONTHS.get((month_after or month_first).casefold())
    if month is None:
        return None
    return _at(int(year), month, int(day_first or day_after), *clock)


def _at(
    year: int,
    month: int,
    day: int,
    hour: str | None,
    minute: str | None,
    second: str | None,
    half: str | None,
    zone: str | None,
) -> datetime:
    """A datetime (naive unless a zone is stated); ValueError for impossible fields."""
    hours = int(hour) if hour else 0
    if half:
        if not 1 <= hours <= 12:
            raise ValueError("12-hour clock out of range")
        hours = hours % 12 + (12 if half in "pP" else 0)
    stated: tzinfo | None = None
    if zone:
        stated = _offset(zone) if zone[0] in "+-" else UTC
    return datetime(year, month, day, hours, int(minute or 0), int(second or 0), tzinfo=stated)


def _from_epoch(seconds: float) -> datetime | None:
    if not isfinite(seconds):
        return None
    if abs(seconds) >= 1e14:  # microseconds
        seconds /= 1e6
    elif abs(seconds) >= 1e11:  # milliseconds (1e11 s is the year 5138)
        seconds /= 1e3
    return datetime.fromtimestamp(seconds, UTC)


# --- declared layouts ---------------------------------------------------------------------

# strptime directives as regex groups; a layout using anything else goes to strptime itself.
# fmt: off
_DIRECTIVES = {
    "Y": r"(?P<Y>\d{4})", "y": r"(?P<y>\d{2})", "m": r"(?P<m>\d{1,2})", "d": r"(?P<d>\d{1,2})",
    "H": r"(?P<H>\d{1,2})", "I": r"(?P<I>\d{1,2})", "M": r"(?P<M>\d{1,2})",
    "S": r"(?P<S>\d{1,2})", "f": r"(?P<f>\d{1,6})", "p": r"(?P<p>[AaPp])\.?[Mm]\.?",
    "b": r"(?P<b>[A-Za-z]{3,9})\.?", "B": r"(?P<b>[A-Za-z]{3,9})",
    "z": r"(?P<z>[Zz]|[+-]\d\d:?\d\d)", "%": "%",
}
# fmt: on


@lru_cache(maxsize=64)
def _layout_pattern(layout: str) -> re.Pattern[str] | None:
    parts: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(layout):
        char = layout[i]
        if char == "%":
            directive = layout[i + 1 : i + 2]
            part = _DIRECTIVES.get(directive)
            group = "b" if directive == "B" else directive
            if part is None or (group in seen and directive != "%"):
                return None
            seen.add(group)
            parts.append(part)
            i += 2
        elif char.isspace():
            parts.append(r"\s+")
            while i < len(layout) and layout[i].isspace():
                i += 1
        else:
            parts.append(re.escape(char))
            i += 1
    return re.compile("".join(parts), re.ASCII)


def parse_layout(value: str, layout: str, zone: tzinfo = UTC) -> datetime:
    """`value` written in the strptime `layout` → a UTC-aware datetime, else BadTimestamp.

    Times without an offset are taken in `zone`. Common directives are matched by one
    regex (~2 µs); a layout with others goes through `datetime.strptime` (~10 µs).

    >>> parse_layout("05/01/2026 07:00 AM", "%m/%d/%Y %I:%M %p").isoformat()
    '2026-05-01T07:00:00+00:00'
    """
    try:
        moment = _in_layout(value.strip(), layout)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise BadTimestamp(f"time {value[:64]!r} is not in the layout {layout!r}") from None


def _in_layout(text: str, layout: str) -> datetime:
    pattern = _layout_pattern(layout)
    if pattern is None:
        return datetime.strptime(text, layout)
    found = pattern.fullmatch(text)
    if found is None:
        raise ValueError("does not match")
    fields = found.groupdict()
    if fields.get("Y"):
        year = int(fields["Y"])
    elif fields.get("y"):
        year = int(fields["y"]) + (1900 if int(fields["y"]) >= 69 else 2000)  # as strptime
    else:
        year = 1900
    if fields.get("b"):
        month = _MONTHS.get(fields["b"].casefold())
        if month is None:
            raise ValueError("not a month name")
    else:
        month = int(fields.get("m") or 1)
    if fields.get("I"):
        hour = int(fields["I"])
        if not 1 <= hour <= 12:
            raise ValueError("12-hour clock out of range")
        hour = hour % 12 + (12 if (fields.get("p") or "a") in "pP" else 0)
    else:
        hour = int(fields.get("H") or 0)
    micro = int((fields.get("f") or "0").ljust(6, "0"))
    zone: tzinfo | None = None
    offset = fields.get("z")
    if offset:
        zone = UTC if offset in "Zz" else _offset(offset)
    return datetime(
        year, month, int(fields.get("d") or 1), hour, int(fields.get("M") or 0),
        int(fields.get("S") or 0), micro, tzinfo=zone,
    )  # fmt: skip


def _offset(text: str) -> tzinfo:
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:])
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))
