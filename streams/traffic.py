"""Realistic synthetic lead traffic with a hidden ground truth: the pure side of `aiqleads produce`.

Contract:

* `TrafficGenerator(sources, seed=..., malformed_share=..., clock=...)` yields
  `GeneratedEvent`s; the same seed and clock give the same bytes, in the same order.
* Every event says what the ingest path must do with it: ``expected`` is
  ``"valid"`` or the `streams.errors` reason code it must be rejected with.
  ``lead_id`` is the id the lead gets (`streams.identity.lead_id`) whenever the
  document still yields a source id (so not for ``bad_json``, ``bad_encoding``,
  ``bad_shape``); ``p`` is the hidden conversion probability of valid leads
  (`streams.ground_truth`), 0.0 for the rest.
* Exactly ``malformed_share`` of events (in expectation) carry one injected defect;
  the rest are valid. A clean event may have one broken contact of two (a lead
  stays valid while one contact is usable); only a defect breaks all of them.
* Which code wins when every contact is broken: ``bad_email`` if an email was
  given, else ``bad_phone``; ``missing_contact`` when neither was given.
* Event times are the clock's now less a small arrival lag (seconds for the
  portal, up to minutes for ad leads); ``too_old`` events are 32-400 days old,
  ``in_future`` ones 1 hour to 30 days ahead (clear of the 30-day age limit and
  the 5-minute skew allowance).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import orjson
from msgspec.structs import replace

from schemas.outcome import Outcome
from streams.ground_truth import conversion_probability, draw_outcome
from streams.identity import lead_id as make_lead_id
from streams.traffic_draw import (
    DrawContext,
    LeadDraw,
    draw_lead,
    with_bad_contacts,
    without_contact,
)
from streams.traffic_formats import RENDERERS, Rendered
from streams.traffic_places import Gazetteer
from streams.traffic_random import Weighted, pick

#: Relative volume of each source when several are mixed.
SOURCE_WEIGHTS: dict[str, float] = {"portal": 0.6, "facebook": 0.4}

#: The injected defects: name → (relative weight, expected reason code).
DEFECTS: dict[str, tuple[float, str]] = {
    "truncated_json": (0.16, "bad_json"),
    "not_json": (0.05, "bad_json"),
    "empty_body": (0.05, "bad_json"),
    "bad_encoding": (0.12, "bad_encoding"),
    "missing_id": (0.12, "bad_shape"),
    "wrong_shape": (0.06, "bad_shape"),
    "no_contact": (0.12, "missing_contact"),
    "bad_contacts": (0.08, "bad_email"),  # or bad_phone when only a phone was given
    "bad_timestamp": (0.07, "bad_timestamp"),
    "too_old": (0.07, "too_old"),
    "in_future": (0.07, "in_future"),
    "impossible_value": (0.03, "bad_value"),
}
_pick_defect = Weighted([(name, weight) for name, (weight, _) in DEFECTS.items()])
_NO_LEAD_ID = frozenset({"bad_json", "bad_encoding", "bad_shape"})
_UNPARSEABLE_TIMES = ("not-a-date", "2026-13-45T25:61:00Z", "yesterday", "N/A", "{{submitted_at}}")
_NOT_JSON = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center>502 Bad Gateway"
    b"</center></body></html>",
    b"name=Jane+Doe&email=jane%40example.com&phone=5125550134",
)
_OUTCOME_SEED_SALT = 0x5EED0C


class GeneratedEvent(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    key: bytes | None
    value: bytes
    lead_id: str | None
    expected: str  # "valid" or a reason code
    p: float  # hidden conversion probability (0.0 unless valid)
    event_ms: int  # the event time the document states (or would have stated)
    defect: str | None = None  # the injected defect, None for a clean event
    price: float | None = None

    @property
    def valid(self) -> bool:
        return self.expected == "valid"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _truncate(rng: random.Random, value: bytes) -> bytes:
    # Any strict prefix of a compact JSON object is invalid JSON; cut on a character
    # boundary so the failure is the JSON, not the UTF-8.
    cut = rng.randint(1, len(value) - 2)
    while cut > 1 and (value[cut] & 0xC0) == 0x80:
        cut -= 1
    return value[:cut]


def _with_draw_defect(
    rng: random.Random, draw: LeadDraw, defect: str, now: datetime
) -> tuple[LeadDraw, str]:
    """Apply a defect that lives in the lead's content; returns the draw and its reason."""
    expected = DEFECTS[defect][1]
    if defect == "no_contact":
        return without_contact(draw), expected
    if defect == "bad_contacts":
        return with_bad_contacts(rng, draw)
    if defect == "bad_timestamp":
        return replace(draw, timestamp_text=rng.choice(_UNPARSEABLE_TIMES)), expected
    if defect == "too_old":
        return replace(draw, event_time=now - timedelta(days=rng.uniform(32, 400))), expected
    if defect == "in_future":
        ahead = timedelta(seconds=rng.uniform(3600, 30 * 86400))
        return replace(draw, event_time=now + ahead), expected
    if defect == "impossible_value":
        if draw.source == "portal" and rng.random() < 0.5:
            return replace(draw, price_override=-draw.home.price), expected
        return replace(draw, beds_override=pick(rng, (80, 120, 400))), expected
    if defect == "bad_encoding":
        # A Latin-1 sender: needs a non-ASCII character to go wrong on.
        person = replace(draw.person, first_name="José", last_name="Müller")
        return replace(draw, person=person), expected
    return draw, expected


def _with_byte_defect(
    rng: random.Random, rendered: Rendered, defect: str | None
) -> tuple[bytes, bool]:
    """The value bytes, and whether the sender still keyed the message by the source id."""
    doc = rendered.doc
    if defect == "bad_encoding":
        text = orjson.dumps(doc).decode()
        return text.encode("latin-1", errors="replace"), True
    if defect == "missing_id":
        doc = {k: v for k, v in doc.items() if k != rendered.id_field}
        return orjson.dumps(doc), False
    if defect == "wrong_shape":
        return orjson.dumps([doc]), True
    if defect == "empty_body":
        return b"", False
    if defect == "not_json":
        return rng.choice(_NOT_JSON), False
    value = orjson.dumps(doc)
    if defect == "truncated_json":
        return _truncate(rng, value), True
    return value, True


class TrafficGenerator:
    """An endless, seeded stream of synthetic lead events across the given sources."""

    def __init__(
        self,
        sources: Sequence[str] = ("portal", "facebook"),
        *,
        seed: int = 1,
        malformed_share: float = 0.03,
        clock: Callable[[], datetime] | None = None,
        source_weights: Mapping[str, float] | None = None,
        gazetteer: Gazetteer | None = None,
    ) -> None:
        unknown = [s for s in sources if s not in RENDERERS]
        if unknown or not sources:
            raise ValueError(f"cannot generate {unknown or 'no sources'}: have {sorted(RENDERERS)}")
        if not 0.0 <= malformed_share <= 1.0:
            raise ValueError("malformed_share must be within [0, 1]")
        weights = {**SOURCE_WEIGHTS, **(source_weights or {})}
        self.sources = tuple(sources)
        self.malformed_share = malformed_share
        self._pick_source = Weighted([(s, weights.get(s, 0.3)) for s in self.sources])
        self.clock = clock or _utc_now
        self._rng = random.Random(seed)
        # A separate stream so that drawing outcomes never shifts the events.
        self._outcome_rng = random.Random(seed ^ _OUTCOME_SEED_SALT)
        self._ctx = DrawContext.new(self._rng, gazetteer or Gazetteer.load())

    def __iter__(self) -> Iterator[GeneratedEvent]:
        while True:
            yield self.next_event()

    def take(self, count: int) -> list[GeneratedEvent]:
        return [self.next_event() for _ in range(count)]

    def next_event(self) -> GeneratedEvent:
        rng = self._rng
        source = self._pick_source(rng)
        now = self.clock()
        defect = None
        if rng.random() < self.malformed_share:
            defect = _pick_defect(rng)
        draw = draw_lead(rng, self._ctx, source, now)
        expected = "valid"
        if defect is not None:
            draw, expected = _with_draw_defect(rng, draw, defect, now)
        rendered = RENDERERS[source](draw, rng)
        value, keyed = _with_byte_defect(rng, rendered, defect)
        valid = expected == "valid"
        return GeneratedEvent(
            source=source,
            key=rendered.source_id.encode() if keyed else None,
            value=value,
            lead_id=None if expected in _NO_LEAD_ID else make_lead_id(source, rendered.source_id),
            expected=expected,
            p=conversion_probability(rendered.features) if valid else 0.0,
            event_ms=int(draw.event_time.timestamp() * 1000),
            defect=defect,
            price=rendered.features.price,
        )

    def outcome(self, event: GeneratedEvent, mean_delay_s: float) -> tuple[float, Outcome]:
        """A valid lead's outcome, drawn from its hidden p, and the seconds until it happens.

        Both are drawn when the lead is sent (from their own seeded stream), so a
        run's labels do not depend on when the outcomes are finally delivered.
        """
        if event.lead_id is None or not event.valid:
            raise ValueError("only valid leads have outcomes")
        rng = self._outcome_rng
        delay = rng.expovariate(1.0 / mean_delay_s) if mean_delay_s > 0 else 0.0
        occurred_ms = int((self.clock().timestamp() + delay) * 1000)
        return delay, draw_outcome(event.lead_id, event.p, rng, occurred_ms, event.price)


def generate(
    count: int,
    *,
    sources: Sequence[str] = ("portal", "facebook"),
    seed: int = 1,
    malformed_share: float = 0.03,
    now: datetime | None = None,
) -> list[GeneratedEvent]:
    """`count` events at a fixed instant (default: the current time)."""
    fixed = now or _utc_now()
    generator = TrafficGenerator(
        sources, seed=seed, malformed_share=malformed_share, clock=lambda: fixed
    )
    return generator.take(count)
