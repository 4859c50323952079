"""Renderers and the wire: every generated event of every source parses as it says it will."""

from __future__ import annotations

import random
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from msgspec.structs import replace

from streams.errors import LeadRejected
from streams.ingest import IngestConfig
from streams.parse.registry import PARSERS, parse
from streams.traffic.draw import (
    DrawContext,
    LeadDraw,
    draw_lead,
    with_bad_contacts,
    without_contact,
)
from streams.traffic.formats import RENDERERS
from streams.traffic.places import Gazetteer
from streams.traffic.wire import JSON, Encoding, encode, to_wire
from streams.validate import validate

NOW = datetime(2026, 5, 1, 17, 30, tzinfo=UTC)
NEW_SOURCES = ("webform", "partner", "crm")
BYTE_DEFECTS = ("truncated_json", "not_json", "empty_body", "bad_encoding", "missing_id",
                "wrong_shape")  # fmt: skip
DRAW_DEFECTS = ("no_contact", "bad_contacts", "bad_timestamp", "too_old", "in_future",
                "impossible_value")  # fmt: skip


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


def _verdict(source: str, value: bytes, headers: dict[str, str]) -> tuple[str, str | None]:
    """(reason or "valid", source id) as the ingest path's parse and validate see it."""
    config = IngestConfig()
    try:
        lead = parse(source, value, NOW, max_bytes=config.max_bytes, headers=headers)
        validate(lead, NOW, max_age=config.max_age, max_skew=config.max_skew)
    except LeadRejected as exc:
        return exc.reason, None
    return "valid", lead.source_lead_id


def _with_defect(rng: random.Random, draw: LeadDraw, defect: str) -> tuple[LeadDraw, str]:
    """The draw-level defects of `streams.traffic.generator`, with the reason each must get."""
    if defect == "no_contact":
        return without_contact(draw), "missing_contact"
    if defect == "bad_contacts":
        return with_bad_contacts(rng, draw)
    if defect == "bad_timestamp":
        return replace(draw, timestamp_text="{{submitted_at}}"), "bad_timestamp"
    if defect == "too_old":
        return replace(draw, event_time=NOW - timedelta(days=40)), "too_old"
    if defect == "in_future":
        return replace(draw, event_time=NOW + timedelta(days=2, seconds=0.25)), "in_future"
    if defect == "impossible_value":
        return replace(draw, beds_override=80), "bad_value"
    raise AssertionError(defect)


@pytest.mark.parametrize("source", NEW_SOURCES)
def test_every_clean_event_parses_with_its_source_id(source: str, gazetteer: Gazetteer) -> None:
    rng = random.Random(7)
    ctx = DrawContext.new(rng, gazetteer)
    shapes: Counter[str] = Counter()
    for _ in range(1500):
        rendered = RENDERERS[source](draw_lead(rng, ctx, source, NOW), rng)
        wire = to_wire(rng, source, rendered, None, "valid")
        assert _verdict(source, wire.value, wire.headers) == ("valid", rendered.source_id)
        assert wire.keyed
        shapes[rendered.encoding.kind] += 1
        shapes.update(f"header:{name}" for name in wire.headers)
    if source == "partner":
        assert shapes["csv"] == 1500
        assert shapes["header:x-partner-id"] == 1500
    elif source == "webform":
        assert shapes["json"] > 200
        assert shapes["form"] > 200
        assert 0 < shapes["header:content-type"] < 1500  # some senders leave it to sniffing
        assert shapes["header:x-forwarded-for"] > 50
    else:
        assert shapes["json"] > 300
        assert shapes["json_batch"] > 300


def test_partner_rows_cover_every_bundled_partner(gazetteer: Gazetteer) -> None:
    rng = random.Random(3)
    ctx = DrawContext.new(rng, gazetteer)
    seen: Counter[str] = Counter()
    endings: Counter[bytes] = Counter()
    for _ in range(600):
        rendered = RENDERERS["partner"](draw_lead(rng, ctx, "partner", NOW), rng)
        value = encode(rendered.doc, rendered.encoding)
        seen[rendered.headers["x-partner-id"]] += 1
        endings[value[-2:] if value.endswith(b"\r\n") else value[-1:]] += 1
    assert set(seen) == {"homequest", "movewise", "relohub"}
    assert endings[b"\r\n"] > 200
    assert endings[b"\n"] > 50


@pytest.mark.parametrize("source", sorted(PARSERS))
@pytest.mark.parametrize("defect", BYTE_DEFECTS + DRAW_DEFECTS)
def test_defects_get_the_reason_the_wire_says(
    source: str, defect: str, gazetteer: Gazetteer
) -> None:
    rng = random.Random(zlib.crc32(f"{source}/{defect}".encode()))
    ctx = DrawContext.new(rng, gazetteer)
    for _ in range(40):
        draw = draw_lead(rng, ctx, source, NOW)
        expected = {"bad_encoding": "bad_encoding", "truncated_json": "bad_json",
                    "not_json": "bad_json", "empty_body": "bad_json", "missing_id": "bad_shape",
                    "wrong_shape": "bad_shape"}.get(defect, "")  # fmt: skip
        if defect == "bad_encoding":  # a Latin-1 sender needs a non-ASCII character
            draw = replace(draw, person=replace(draw.person, first_name="José"))
        if not expected:
            draw, expected = _with_defect(rng, draw, defect)
        rendered = RENDERERS[source](draw, rng)
        wire = to_wire(rng, source, rendered, defect if defect in BYTE_DEFECTS else None, expected)
        verdict, _ = _verdict(source, wire.value, wire.headers)
        assert verdict == wire.expected, (defect, wire.value[:200], wire.headers)
        if source != "partner":  # JSON's codes hold for every JSON-speaking source
            assert wire.expected == expected


def test_unknown_partner(gazetteer: Gazetteer) -> None:
    rng = random.Random(5)
    ctx = DrawContext.new(rng, gazetteer)
    missing = 0
    for _ in range(100):
        rendered = RENDERERS["partner"](draw_lead(rng, ctx, "partner", NOW), rng)
        wire = to_wire(rng, "partner", rendered, "unknown_partner", "unknown_partner")
        assert _verdict("partner", wire.value, wire.headers)[0] == "unknown_partner"
        missing += "x-partner-id" not in wire.headers
    assert 10 < missing < 60
    with pytest.raises(ValueError, match="partner rows only"):
        to_wire(rng, "crm", rendered, "unknown_partner", "unknown_partner")


@pytest.mark.parametrize("source", ["portal", "facebook"])
def test_json_sources_go_on_the_wire_as_before(source: str, gazetteer: Gazetteer) -> None:
    rng = random.Random(1)
    ctx = DrawContext.new(rng, gazetteer)
    rendered = RENDERERS[source](draw_lead(rng, ctx, source, NOW), rng)
    assert rendered.encoding == JSON
    assert rendered.headers == {}
    assert to_wire(rng, source, rendered, None, "valid").value == orjson.dumps(rendered.doc)


def test_edits_to_the_document_reach_the_wire(gazetteer: Gazetteer) -> None:
    # Fraud stamping an IP edits `doc`: the bytes follow, whatever the format.
    rng = random.Random(2)
    ctx = DrawContext.new(rng, gazetteer)
    for source in NEW_SOURCES:
        rendered = RENDERERS[source](draw_lead(rng, ctx, source, NOW), rng)
        doc = {**rendered.doc, next(iter(rendered.doc)): "edited"}
        value = to_wire(rng, source, replace(rendered, doc=doc), None, "valid").value
        assert b"edited" in value


def test_same_seed_same_bytes(gazetteer: Gazetteer) -> None:
    def run(seed: int) -> list[tuple[bytes, dict[str, str]]]:
        rng = random.Random(seed)
        ctx = DrawContext.new(rng, gazetteer)
        out = []
        for i in range(60):
            source = NEW_SOURCES[i % 3]
            rendered = RENDERERS[source](draw_lead(rng, ctx, source, NOW), rng)
            wire = to_wire(rng, source, rendered, None, "valid")
            out.append((wire.value, wire.headers))
        return out

    assert run(4) == run(4)
    assert run(4) != run(5)


@pytest.mark.parametrize(
    ("encoding", "doc", "value"),
    [
        (JSON, {"a": 1}, b'{"a":1}'),
        (Encoding(kind="json_batch"), {"a": 1}, b'[{"a":1}]'),
        (Encoding(kind="form"), {"E-mail": "josé@x.com", "ok": True},
         b"E-mail=jos%C3%A9%40x.com&ok=on"),
        (Encoding(kind="csv", suffix="\r\n"), {"a": "x, y", "b": 'say "hi"'},
         b'"x, y","say ""hi"""\r\n'),
        (Encoding(kind="csv", delimiter="\t", prefix="\ufeff"), {"a": "1", "b": ""},
         b"\xef\xbb\xbf1\t"),
    ],
)  # fmt: skip
def test_encode(encoding: Encoding, doc: dict[str, object], value: bytes) -> None:
    assert encode(doc, encoding) == value
