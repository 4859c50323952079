"""Realistic synthetic lead traffic with a hidden ground truth: the pure side of `aiqleads produce`.

Contract:

* `TrafficGenerator(sources, seed=..., malformed_share=..., clock=...)` yields
  `GeneratedEvent`s; the same seed and clock give the same bytes, in the same order.
* Every event says what the ingest path must do with it: ``expected`` is
  ``"valid"`` or the `streams.errors` reason code it must be rejected with.
  ``lead_id`` is the id the lead gets (`streams.identity.lead_id`) whenever the
  document still yields a source id (so not for ``bad_json``, ``bad_encoding``,
  ``bad_shape``); ``p`` is the hidden conversion probability of valid leads
  (`streams.traffic.ground_truth`), 0.0 for the rest.
* Exactly ``malformed_share`` of events (in expectation) carry one injected defect;
  the rest are valid. A clean event may have one broken contact of two (a lead
  stays valid while one contact is usable); only a defect breaks all of them.
* Which code wins when every contact is broken: ``bad_email`` if an email was
  given, else ``bad_phone``; ``missing_contact`` when neither was given.
* Event times are the clock's now less a small arrival lag (seconds for the
  portal, up to minutes for ad leads); ``too_old`` events are 32-400 days old,
  ``in_future`` ones 1 hour to 30 days ahead (clear of the 30-day age limit and
  the 5-minute skew allowance).
* ``fraud_share`` of events (in expectation) are labelled fraud (``fraud`` names
  the pattern, `streams.traffic.fraud`): valid leads that should be quarantined.
  Each pattern (velocity counting once, in up to three kinds) is an equal share of
  the fraud *events*; a burst pattern sends several events, each labelled. IP
  patterns need a web form or CRM source among `sources`.
* ``duplicate_share`` of events re-send an earlier clean lead's person about the
  same place (same or neighbouring H3 res-8 cell, as parsed) with a new source id,
  possibly through another source, within a day: ``duplicate_of`` is the first
  lead's id. Duplicates are valid and not fraud.
* With both shares 0 (the default) the stream is byte for byte what it was
  before either existed, for the same seed.
* ``headers`` are the message headers the source sends with the value (a partner's
  ``x-partner-id``, a form's ``content-type``, a proxy's ``x-forwarded-for``): the
  producer must send them, the parsers read them. A partner row may carry the
  partner-only defect ``unknown_partner`` (`SOURCE_DEFECTS`).
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import h3.api.basic_int as h3
import msgspec
from msgspec.structs import replace

from schemas.outcome import Outcome
from streams.enrich import h3_cells
from streams.errors import LeadRejected
from streams.identity import lead_id as make_lead_id
from streams.parse.registry import parse
from streams.traffic import fraud as tf
from streams.traffic.draw import (
    DrawContext,
    LeadDraw,
    draw_lead,
    with_bad_contacts,
    without_contact,
)
from streams.traffic.formats import RENDERERS
from streams.traffic.ground_truth import conversion_probability, draw_outcome
from streams.traffic.people import Person, draw_person, format_phone
from streams.traffic.places import Gazetteer
from streams.traffic.sampling import Weighted, below, between, pick
from streams.traffic.wire import Rendered, to_wire

#: Relative volume of each source when several are mixed.
SOURCE_WEIGHTS: dict[str, float] = {
    "portal": 0.6, "facebook": 0.4, "webform": 0.15, "partner": 0.1, "crm": 0.1,
}  # fmt: skip

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
#: Defects of one source only, drawn instead of a general one (so other sources' streams
#: do not move): name → (share of that source's defects, expected reason code).
SOURCE_DEFECTS: dict[str, dict[str, tuple[float, str]]] = {
    "partner": {"unknown_partner": (0.15, "unknown_partner")},
}
# The mix `aiqleads run` sends and the pipeline bench measures (the generator's own default
# is none of either): fraud rings and re-sent leads at the rates a busy marketplace sees.
DEMO_FRAUD_SHARE = 0.03
DEMO_DUPLICATE_SHARE = 0.03
_NO_LEAD_ID = frozenset({"bad_json", "bad_encoding", "bad_shape"})
_UNPARSEABLE_TIMES = ("not-a-date", "2026-13-45T25:61:00Z", "yesterday", "N/A", "{{submitted_at}}")
_OUTCOME_SEED_SALT = 0x5EED0C
_FRAUD_SEED_SALT = 0xF4A0D
_DUPLICATE_WITHIN = timedelta(hours=24)  # well inside the default 72-hour dedupe window
_DUPLICATE_POOL = 2000
_DUPLICATE_SAME_SOURCE = 0.7


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
    fraud: str | None = None  # the injected fraud pattern (`streams.traffic.fraud`), None = legit
    duplicate_of: str | None = None  # the lead_id of the first lead this one re-sends
    headers: dict[str, str] = {}  # message headers the source sends with the value

    @property
    def valid(self) -> bool:
        return self.expected == "valid"


def _utc_now() -> datetime:
    return datetime.now(UTC)


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


@dataclass(frozen=True, slots=True)
class _Burst:
    """What the events of one burst share."""

    pattern: str
    source: str
    person: Person | None = None  # velocity_email / velocity_phone: the reused identity
    email: str | None = None  # as typed
    phone: str | None = None
    ip: str | None = None
    second: datetime | None = None  # bot_timing: every event in this second


@dataclass(frozen=True, slots=True)
class _Sent:
    """A clean lead a later duplicate may re-send."""

    lead_id: str
    draw: LeadDraw
    value: bytes
    headers: dict[str, str]
    source: str


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
        fraud_share: float = 0.0,
        duplicate_share: float = 0.0,
    ) -> None:
        unknown = [s for s in sources if s not in RENDERERS]
        if unknown or not sources:
            raise ValueError(f"cannot generate {unknown or 'no sources'}: have {sorted(RENDERERS)}")
        for name, share in (("malformed_share", malformed_share), ("fraud_share", fraud_share),
                            ("duplicate_share", duplicate_share)):  # fmt: skip
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if fraud_share + duplicate_share >= 1.0:
            raise ValueError("fraud_share + duplicate_share must be below 1")
        weights = {**SOURCE_WEIGHTS, **(source_weights or {})}
        self.sources = tuple(sources)
        self.malformed_share = malformed_share
        self.fraud_share = fraud_share
        self.duplicate_share = duplicate_share
        self._pick_source = Weighted([(s, weights.get(s, 0.3)) for s in self.sources])
        self.clock = clock or _utc_now
        self._rng = random.Random(seed)
        # A separate stream so that drawing outcomes never shifts the events.
        self._outcome_rng = random.Random(seed ^ _OUTCOME_SEED_SALT)
        self._ctx = DrawContext.new(self._rng, gazetteer or Gazetteer.load())
        self._n = 0  # events sent
        self._order = 0  # ties between bursts due at the same event go first come, first out
        self._bursts: list[tuple[int, int, _Burst]] = []  # (due event number, order, burst)
        self._sent: deque[_Sent] = deque(maxlen=_DUPLICATE_POOL)
        self._fraud_start = self._duplicate_start = 0.0
        self._pick_fraud: Weighted[str] | None = None
        self._ip_sources: tuple[str, ...] = ()
        self._events_per_start = 1.0
        self._far_codes: tuple[str, ...] = ()
        if fraud_share > 0:
            self._plan_fraud(seed)
        if duplicate_share > 0:
            self._duplicate_start = (
                duplicate_share * self._events_per_fresh_draw() / (1.0 - self._fraud_start)
            )

    # --- planning -----------------------------------------------------------------------

    def _plan_fraud(self, seed: int) -> None:
        """Which patterns can be drawn, and how often a fresh draw starts one."""
        probe_rng = random.Random(seed ^ _FRAUD_SEED_SALT)
        probe_ctx = DrawContext.new(probe_rng, self._ctx.gazetteer)

        # Sources whose every event can carry a client IP (a partner row only when the
        # partner has an IP column, so not partners as a source).
        def carries_ip(source: str) -> bool:
            draw = draw_lead(probe_rng, probe_ctx, source, _utc_now())
            return _stamped(source, RENDERERS[source](draw, probe_rng), "192.0.2.1") is not None

        self._ip_sources = tuple(s for s in self.sources if all(carries_ip(s) for _ in range(20)))
        velocity = [p for p in tf.VELOCITY_PATTERNS if self._ip_sources or p not in tf.IP_PATTERNS]
        event_shares = {p: 1.0 for p in tf.SINGLE_PATTERNS}
        event_shares.update({p: 1.0 / len(velocity) for p in velocity})
        if self._ip_sources:
            event_shares["bot_timing"] = 1.0
        # A burst of k events starts k times less often than a one-event pattern.
        starts = {p: share / tf.mean_events(p) for p, share in event_shares.items()}
        self._pick_fraud = Weighted(list(starts.items()))
        events_per_start = sum(event_shares.values()) / sum(starts.values())
        f = self.fraud_share
        self._fraud_start = f / (events_per_start * (1.0 - f) + f)
        self._events_per_start = events_per_start
        self._far_codes = tf.far_code_candidates()

    def _events_per_fresh_draw(self) -> float:
        if not self._fraud_start:
            return 1.0
        return 1.0 - self._fraud_start + self._fraud_start * self._events_per_start

    # --- the stream ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[GeneratedEvent]:
        while True:
            yield self.next_event()

    def take(self, count: int) -> list[GeneratedEvent]:
        return [self.next_event() for _ in range(count)]

    def next_event(self) -> GeneratedEvent:
        self._n += 1
        if self._bursts and self._bursts[0][0] <= self._n:
            _, _, burst = heapq.heappop(self._bursts)
            return self._burst_event(burst, self.clock())
        rng = self._rng
        source = self._pick_source(rng)
        now = self.clock()
        if self._fraud_start and rng.random() < self._fraud_start:
            return self._start_fraud(source, now)
        if self._duplicate_start and rng.random() < self._duplicate_start:
            duplicate = self._duplicate(now)
            if duplicate is not None:
                return duplicate
        defect = None
        if rng.random() < self.malformed_share:
            defect = _pick_defect(rng)
            for name, (share, _) in SOURCE_DEFECTS.get(source, {}).items():
                if rng.random() < share:
                    defect = name
        draw = draw_lead(rng, self._ctx, source, now)
        expected = "valid"
        if defect in SOURCE_DEFECTS.get(source, {}):
            expected = SOURCE_DEFECTS[source][defect][1]
        elif defect is not None:
            draw, expected = _with_draw_defect(rng, draw, defect, now)
        rendered = RENDERERS[source](draw, rng)
        wire = to_wire(rng, source, rendered, defect, expected)
        expected = wire.expected
        valid = expected == "valid"
        event = GeneratedEvent(
            source=source,
            key=rendered.source_id.encode() if wire.keyed else None,
            value=wire.value,
            lead_id=None if expected in _NO_LEAD_ID else make_lead_id(source, rendered.source_id),
            expected=expected,
            p=conversion_probability(rendered.features) if valid else 0.0,
            event_ms=int(draw.event_time.timestamp() * 1000),
            defect=defect,
            price=rendered.features.price,
            headers=wire.headers,
        )
        if self._duplicate_start and valid and event.lead_id is not None:
            self._sent.append(_Sent(event.lead_id, draw, wire.value, wire.headers, source))
        return event

    def _clean_event(
        self, source: str, draw: LeadDraw, *, fraud: str | None = None, ip: str | None = None,
        duplicate_of: str | None = None,
    ) -> GeneratedEvent:  # fmt: skip
        """A valid event from a finished draw; its client IP set to `ip` when given."""
        rendered = RENDERERS[source](draw, self._rng)
        if ip is not None:
            stamped = _stamped(source, rendered, ip)
            if stamped is None:
                raise AssertionError(f"{source} cannot carry a client IP")  # see _plan_fraud
            rendered = stamped
        wire = to_wire(self._rng, source, rendered, None, "valid")
        return GeneratedEvent(
            source=source,
            key=rendered.source_id.encode(),
            value=wire.value,
            lead_id=make_lead_id(source, rendered.source_id),
            expected="valid",
            # Fakes never convert; a re-sent person converts as the first lead would.
            p=0.0 if fraud else conversion_probability(rendered.features),
            event_ms=int(draw.event_time.timestamp() * 1000),
            price=rendered.features.price,
            fraud=fraud,
            duplicate_of=duplicate_of,
            headers=wire.headers,
        )

    # --- fraud --------------------------------------------------------------------------

    def _start_fraud(self, source: str, now: datetime) -> GeneratedEvent:
        rng = self._rng
        assert self._pick_fraud is not None
        pattern = self._pick_fraud(rng)
        if pattern in tf.IP_PATTERNS and source not in self._ip_sources:
            source = pick(rng, self._ip_sources)
        draw = draw_lead(rng, self._ctx, source, now)
        if pattern == "disposable_email":
            return self._clean_event(source, tf.with_disposable_email(rng, draw), fraud=pattern)
        if pattern == "unassignable_phone":
            return self._clean_event(source, tf.with_unassignable_phone(rng, draw), fraud=pattern)
        if pattern == "gibberish_name":
            return self._clean_event(source, tf.with_gibberish_name(rng, draw), fraud=pattern)
        if pattern == "phone_region_mismatch":
            far = tf.with_far_phone(rng, draw, self._far_codes)
            if far is not None:
                return self._clean_event(source, far, fraud=pattern)
            return self._clean_event(source, tf.with_unassignable_phone(rng, draw),
                                     fraud="unassignable_phone")  # fmt: skip
        burst = self._new_burst(pattern, source, draw, now)
        size = between(rng, *tf.BURST_SIZES[pattern])
        due = self._n
        for _ in range(size - 1):
            # Bots fire back to back; a reused identity comes back every few dozen events.
            due += 1 if pattern == "bot_timing" else 1 + int(rng.expovariate(
                1.0 / tf.BURST_GAP_EVENTS))  # fmt: skip
            self._order += 1
            heapq.heappush(self._bursts, (due, self._order, burst))
        return self._burst_event(burst, now, draw)

    def _new_burst(self, pattern: str, source: str, draw: LeadDraw, now: datetime) -> _Burst:
        rng = self._rng
        if pattern == "velocity_email":
            person = draw.person
            phone = format_phone(rng, person.phone_e164) if rng.random() < 0.5 else None
            return _Burst(pattern, source, person, person.email, phone)
        if pattern == "velocity_phone":
            person = draw.person
            return _Burst(pattern, source, person, None, format_phone(rng, person.phone_e164))
        second = draw.event_time if pattern == "bot_timing" else None
        return _Burst(pattern, source, ip=tf.draw_ip(rng), second=second)

    def _burst_event(
        self, burst: _Burst, now: datetime, draw: LeadDraw | None = None
    ) -> GeneratedEvent:
        """One event of a burst: a new home each time, the burst's identity, IP or second."""
        rng = self._rng
        source = burst.source
        if draw is None:
            if burst.pattern not in tf.IP_PATTERNS:
                source = self._pick_source(rng)  # a farmed identity goes wherever it sells
            draw = draw_lead(rng, self._ctx, source, now)
        if burst.pattern == "velocity_email":
            assert burst.person is not None
            draw = tf.with_identity(draw, burst.person, burst.email, burst.phone)
        elif burst.pattern == "velocity_phone":
            assert burst.person is not None
            fresh = draw_person(rng, (burst.person.phone_e164[2:5],))
            person = msgspec.structs.replace(fresh, phone_e164=burst.person.phone_e164)
            email = fresh.email if rng.random() < 0.7 else None
            draw = tf.with_identity(draw, person, email, burst.phone)
        if burst.second is not None:
            draw = replace(draw, event_time=burst.second)
        return self._clean_event(source, draw, fraud=burst.pattern, ip=burst.ip)

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

    # --- duplicates ---------------------------------------------------------------------

    def _duplicate(self, now: datetime) -> GeneratedEvent | None:
        """The same person about the same place again, with a new source id."""
        rng = self._rng
        if not self._sent:
            return None
        first = self._sent[below(rng, len(self._sent))]
        if first.draw.event_time < now - _DUPLICATE_WITHIN:
            return None
        lag = min(rng.expovariate(1.0 / 30.0), 600.0)
        # Later than the first lead, by its own clock too (and so, on a form without ids,
        # not the same derived id).
        at = max(now - timedelta(seconds=lag), first.draw.event_time + timedelta(seconds=1))
        draw = replace(first.draw, event_time=at.replace(microsecond=0))
        if draw.phone is not None and draw.phone_ok and rng.random() < 0.5:
            draw = replace(draw, phone=format_phone(rng, draw.person.phone_e164))  # retyped
        other = pick(rng, self.sources)
        order = [other if rng.random() >= _DUPLICATE_SAME_SOURCE else first.source, first.source]
        for source in (*order, first.source):
            event = self._clean_event(source, replace(draw, source=source),
                                      duplicate_of=first.lead_id)  # fmt: skip
            if event.lead_id == first.lead_id:
                return None  # the very same event again, not a re-send: never generated
            if _same_area(first, event, now):
                return event
        return msgspec.structs.replace(event, duplicate_of=None)  # nearby, not the same area


def _stamped(source: str, rendered: Rendered, ip: str) -> Rendered | None:
    """`rendered` with its client IP set to `ip`; None when its format cannot carry one."""
    result = tf.stamp_ip(source, rendered.doc, rendered.headers, ip)
    if result is None:
        return None
    doc, headers = result
    return msgspec.structs.replace(rendered, doc=doc, headers=headers)


def _r8(source: str, value: bytes, headers: dict[str, str], now: datetime) -> int | None:
    try:
        lead = parse(source, value, now, headers=headers)
    except LeadRejected:
        return None
    return h3_cells(lead.lat, lead.lon).r8 if lead.location_precision != "none" else None


def _same_area(first: _Sent, event: GeneratedEvent, now: datetime) -> bool:
    """Whether the two leads, as the parser will place them, share or border a res-8 cell."""
    a = _r8(first.source, first.value, first.headers, now)
    b = _r8(event.source, event.value, event.headers, now)
    if a is None or b is None:
        return False
    return a == b or h3.are_neighbor_cells(a, b)


def generate(
    count: int,
    *,
    sources: Sequence[str] = ("portal", "facebook"),
    seed: int = 1,
    malformed_share: float = 0.03,
    now: datetime | None = None,
    fraud_share: float = 0.0,
    duplicate_share: float = 0.0,
) -> list[GeneratedEvent]:
    """`count` events at a fixed instant (default: the current time)."""
    fixed = now or _utc_now()
    generator = TrafficGenerator(
        sources,
        seed=seed,
        malformed_share=malformed_share,
        clock=lambda: fixed,
        fraud_share=fraud_share,
        duplicate_share=duplicate_share,
    )
    return generator.take(count)
