"""Decoding: JSON into typed structs, text bodies, scalar repairs, timestamps in every shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import BadEncoding, BadJson, BadShape, BadTimestamp, LeadRejected
from streams.parse.decode import (
    NO_HEADERS,
    NUMBER,
    TEXT,
    as_text,
    coerce,
    decode_event,
    decode_text,
    parse_float,
    parse_layout,
    parse_timestamp,
)
from tests.unit.streams.parse.fixtures import NOON, json_values

# --- scalars ------------------------------------------------------------------------------


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
    [(12345, "12345"), (1.0, "1"), (1.5, "1.5"), ("x", "x"), (True, True), (None, None)],
)
def test_as_text(raw: object, expected: object) -> None:
    assert as_text(raw) == expected


# --- time ---------------------------------------------------------------------------------


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
        # epoch milliseconds as text that fromisoformat would read as a basic-format date
        ("1777636800000", NOON),
        ("1778090240138", datetime(2026, 5, 6, 17, 57, 20, 138000, tzinfo=UTC)),
        ("20260501", NOON.replace(hour=0)),  # eight digits: a basic-format date
        # what form builders and spreadsheet exports write
        ("5/1/2026 12:00:00 PM", NOON),
        ("05/01/2026 12:00 pm", NOON),
        ("5/1/2026 12:00PM", NOON),
        ("5/1/26 12:00 PM", NOON),
        ("05-01-2026 12:00", NOON),
        ("05.01.2026 12:00", NOON),
        ("2026/05/01 12:00:00", NOON),
        ("2026-05-01 12:00 PM", NOON),
        ("5/1/2026 12:30 AM", NOON.replace(hour=0, minute=30)),
        ("May 1, 2026 12:00 PM", NOON),
        ("May 1st, 2026, 12:00 p.m.", NOON),
        ("Sept. 1, 2026", datetime(2026, 9, 1, tzinfo=UTC)),
        ("1 May 2026 12:00", NOON),
        ("Friday, May 1, 2026 12:00 PM", NOON),
        ("2026-05-01 12:00:00 UTC", NOON),
        ("2026-05-01 12:00:00 GMT", NOON),
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
        "13/01/2026",  # day-first: no month 13
        "5/1/2026 13:00 PM",
        "2/30/2026",
        "Smarch 1, 2026",
        "May 1",
        "1/2/3",
    ],
)
def test_parse_timestamp_rejects(raw: object) -> None:
    with pytest.raises(BadTimestamp):
        parse_timestamp(raw)


CHICAGO = ZoneInfo("America/Chicago")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-05-01 07:00:00", NOON),  # CDT, UTC-5
        ("05/01/2026 07:00 AM", NOON),
        ("2026-01-15 06:00", datetime(2026, 1, 15, 12, tzinfo=UTC)),  # CST, UTC-6
        ("2026-05-01T12:00:00Z", NOON),  # a stated offset wins
        (1777636800, NOON),  # epochs are absolute
    ],
)
def test_parse_timestamp_in_a_zone(raw: object, expected: datetime) -> None:
    parsed = parse_timestamp(raw, CHICAGO)
    assert parsed == expected
    assert parsed.tzinfo is UTC


# --- text bodies and repairs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [(b"a,b", "a,b"), (b"\xef\xbb\xbfa,b", "a,b"), ("José".encode(), "José"), (b"", "")],
)
def test_decode_text(raw: bytes, text: str) -> None:
    assert decode_text(raw) == text


@pytest.mark.parametrize("raw", [b"Jos\xe9", "a".encode("utf-16"), b"\xef\xbb"])
def test_decode_text_rejects(raw: bytes) -> None:
    with pytest.raises(BadEncoding):
        decode_text(raw)


def test_coerce_repairs_scalars_in_place() -> None:
    obj: dict[str, object] = {"id": 17, "lat": "30.27", "name": "x", "flag": True, "box": {}}
    coerce(obj, {"id": TEXT, "lat": NUMBER, "name": TEXT, "flag": NUMBER, "box": TEXT})
    assert obj == {"id": "17", "lat": 30.27, "name": "x", "flag": None, "box": {}}


def test_no_headers_is_empty_and_read_only() -> None:
    assert dict(NO_HEADERS) == {}
    with pytest.raises(TypeError):
        NO_HEADERS["x"] = "y"  # type: ignore[index]


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
        parse_float,
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


# --- declared layouts ---------------------------------------------------------------------

LAYOUTS = (
    "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M:%S%z",
    "%Y%m%d%H%M%S", "%d %b %Y %H:%M", "%B %d, %Y", "%y-%m-%d %I %p", "%Y-%m-%d %H:%M:%S.%f",
    "%d %B %Y %H:%M", "%j/%Y",
)  # fmt: skip


@given(
    moment=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2099, 12, 31)),
    layout=st.sampled_from(LAYOUTS),
    offset=st.integers(-12 * 60, 14 * 60),
)
def test_parse_layout_reads_what_strptime_reads(moment: datetime, layout: str, offset: int) -> None:
    moment = moment.replace(tzinfo=timezone(timedelta(minutes=offset)))
    text = moment.strftime(layout)
    expected = datetime.strptime(text, layout)
    if expected.tzinfo is None:
        expected = expected.replace(tzinfo=UTC)
    assert parse_layout(text, layout) == expected.astimezone(UTC)


@pytest.mark.parametrize(
    ("raw", "layout"),
    [
        ("2026-05-01 12:00:00", "%m/%d/%Y %I:%M %p"),
        ("13/01/2026 01:00 AM", "%m/%d/%Y %I:%M %p"),
        ("05/01/2026 13:00 PM", "%m/%d/%Y %I:%M %p"),
        ("05/01/2026 00:00 AM", "%m/%d/%Y %I:%M %p"),
        ("Smarch 1, 2026", "%B %d, %Y"),
        ("", "%Y"),
        ("2026-05-01", "%Y-%m-%d %Q"),  # an unknown directive: strptime says no
    ],
)
def test_parse_layout_rejects(raw: str, layout: str) -> None:
    with pytest.raises(BadTimestamp):
        parse_layout(raw, layout)


def test_parse_layout_takes_naive_times_in_the_zone() -> None:
    chicago = ZoneInfo("America/Chicago")
    assert parse_layout("05/01/2026 07:00 AM", "%m/%d/%Y %I:%M %p", chicago) == NOON
    assert parse_layout("2026-05-01T12:00:00Z", "%Y-%m-%dT%H:%M:%S%z", chicago) == NOON
