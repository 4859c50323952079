"""Behaviour features from engagement events, per person (contact key): the `BehaviourBook`.

Contract:
- `decode_event(raw)` decodes an `engagement.events` value and normalises its contacts
  (`streams.parse.contact`); it raises `BadEngagement` (reason `bad_json`, `bad_shape` or
  `missing_contact`) instead of returning an event no person can be found for. The
  caller skips events `too_far_ahead` of its clock (more than a day).
- `BehaviourBook.observe_event(event)` counts a normalised event under every contact key
  it carries (`e:<email>`, `p:<E.164>`, the keys `streams.dedupe` uses); a redelivered
  event (same person, kind and millisecond) counts once. `observe(lead, …)` counts the
  lead itself as an inquiry at its event time, so a person's next lead sees it.
- `features(lead, cells, now_ms)` reads the state of the lead's contact keys (merged when
  both exist) and returns `FEATURE_NAMES`, all finite and bounded; a person with no
  engagement, or no event at or before `now_ms` within 7 days, gets all zeros. Events
  dated after `now_ms` never count, so events sent ahead of their time cannot leak.
- Per person the state is bounded: the newest `MAX_EVENTS` events of the last 7 days
  (each packed as ``occurred_ms << 3 | kind``) and an hour-of-week histogram that is
  halved whenever it passes `HOURS_CAP` (recent habits weigh more). People idle for
  7 days are dropped by `expire(now_ms)` (their key then exports None).
- Features (counts are ``log1p``):
  `beh_events_1h|24h|7d` all events in the window; `beh_views_7d`, `beh_saves_7d`,
  `beh_emails_7d` (opens and clicks), `beh_contacts_7d` (inquiries and calls);
  `beh_sessions_7d` sessions, a new one after `session_gap_minutes` without events;
  `beh_in_session` 1 when the last event is within the gap of now; `beh_recency`
  ``1 - log1p(hours since the last event) / log1p(168)`` (0 when none in 7 days);
  `beh_hour_share` the share of the person's histogram within ±1 hour of the lead's
  hour of week (UTC); `beh_score` ``log1p(Σ weight(kind) · 0.5 ** (age / 24 h))`` with
  `SCORE_WEIGHTS` (a raised hand, an inquiry or call, weighs ten page-view-like opens).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Any

import msgspec

from schemas.engagement import ENGAGEMENT_KINDS, EngagementEvent, engagement_decoder
from schemas.lead import Lead
from streams.enrich import H3Cells
from streams.errors import AIQLeadsError
from streams.features.store import DirtyKeys, Features
from streams.parse.contact import normalize_email, normalize_phone

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
HOURS_OF_WEEK = 168
#: 1970-01-01 was a Thursday: shifting by 3 days makes hour 0 Monday 00:00 UTC.
_EPOCH_HOUR_OF_WEEK = 72

MAX_EVENTS = 64
#: How far ahead of the clock an event may be dated: a bogus far-future date would
#: otherwise push a person's whole history out of the 7-day window.
MAX_AHEAD_MS = DAY_MS
HOURS_CAP = 256
SCORE_HALF_LIFE_MS = DAY_MS

_KIND_CODE: dict[str, int] = {kind: code for code, kind in enumerate(ENGAGEMENT_KINDS)}
_INQUIRY = _KIND_CODE["inquiry"]
#: Score weight per kind code (page_view, save, inquiry, email_open, email_click, call).
SCORE_WEIGHTS: tuple[float, ...] = (1.0, 3.0, 5.0, 0.5, 1.5, 5.0)
#: Feature group per kind code: 0 views, 1 saves, 2 emails, 3 contacts (inquiries, calls).
_GROUP: tuple[int, ...] = (0, 1, 3, 2, 2, 3)

FEATURE_NAMES: tuple[str, ...] = (
    "beh_events_1h", "beh_events_24h", "beh_events_7d",
    "beh_views_7d", "beh_saves_7d", "beh_emails_7d", "beh_contacts_7d",
    "beh_sessions_7d", "beh_in_session", "beh_recency", "beh_hour_share", "beh_score",
)  # fmt: skip
NEUTRAL: Features = dict.fromkeys(FEATURE_NAMES, 0.0)

_LOG_WEEK_HOURS = math.log1p(7 * 24)
_SCORE_RATE = math.log(2) / SCORE_HALF_LIFE_MS
_log1p = math.log1p
_exp = math.exp


class BadEngagement(AIQLeadsError):
    """An engagement event that names no usable person or is not an engagement event."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode_event(raw: bytes) -> EngagementEvent:
    """Decode one `engagement.events` value, contacts normalised; raise `BadEngagement`."""
    try:
        event = engagement_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise BadEngagement("bad_shape", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadEngagement("bad_json", str(exc)) from None
    email = normalize_email(event.email) if event.email is not None else None
    phone = normalize_phone(event.phone) if event.phone is not None else None
    if email is None and phone is None:
        raise BadEngagement("missing_contact", "no valid email or phone")
    if email != event.email or phone != event.phone:
        event = msgspec.structs.replace(event, email=email, phone=phone)
    return event


def too_far_ahead(event: EngagementEvent, now_ms: int) -> bool:
    """Whether `event` is dated more than `MAX_AHEAD_MS` after `now_ms` (do not count it)."""
    return event.occurred_ms > now_ms + MAX_AHEAD_MS


def contact_keys(email: str | None, phone: str | None) -> Iterator[str]:
    """The contact keys of normalised contacts (`streams.dedupe`'s format)."""
    if email:
        yield f"e:{email}"
    if phone:
        yield f"p:{phone}"


def hour_of_week(ms: int) -> int:
    """0 = Monday 00:00-01:00 UTC … 167 = Sunday 23:00-24:00 UTC.

    >>> hour_of_week(0)  # Thursday 1 January 1970, midnight
    72
    """
    return (ms // HOUR_MS + _EPOCH_HOUR_OF_WEEK) % HOURS_OF_WEEK


class _Person:
    """One contact key's engagement: packed events (sorted) and an hour-of-week histogram."""

    __slots__ = ("events", "hours", "hours_total")

    def __init__(self, events: list[int], hours: dict[int, int]) -> None:
        self.events = events
        self.hours = hours
        self.hours_total = sum(hours.values())

    def add(self, ms: int, code: int) -> bool:
        events = self.events
        if events and ms < (events[-1] >> 3) - WEEK_MS:
            return False  # older than anything kept: it could not change a feature
        i = bisect_left(events, code)
        if i < len(events) and events[i] == code:
            return False  # redelivered (at-least-once)
        events.insert(i, code)
        floor = ((events[-1] >> 3) - WEEK_MS) << 3
        if events[0] < floor:
            del events[: bisect_left(events, floor)]
        if len(events) > MAX_EVENTS:
            del events[: len(events) - MAX_EVENTS]
        how = hour_of_week(ms)
        self.hours[how] = self.hours.get(how, 0) + 1
        self.hours_total += 1
        if self.hours_total > HOURS_CAP:
            self.hours = {h: c // 2 for h, c in self.hours.items() if c > 1}
            self.hours_total = sum(self.hours.values())
        return True

    def near(self, how: int) -> int:
        hours = self.hours
        return (hours.get((how - 1) % HOURS_OF_WEEK, 0) + hours.get(how, 0)
                + hours.get((how + 1) % HOURS_OF_WEEK, 0))


def _merged(a: list[int], b: list[int]) -> list[int]:
    """Two sorted event lists as one; an event carrying both contacts is in both: once."""
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    extra = []
    for code in small:  # usually a call or two against a browsing history
        i = bisect_left(big, code)
        if i == len(big) or big[i] != code:
            extra.append(code)
    return sorted(big + extra) if extra else big


def _hour_share(people: list[_Person], lead_ms: int, cutoff: int) -> float:
    """Share of the people's hour-of-week histograms within ±1 hour of `lead_ms`'s hour."""
    how = hour_of_week(lead_ms)
    total = near = 0
    for person in people:
        total += person.hours_total
        near += person.near(how)
        # Events dated after the cutoff are in the histogram already: take them out again.
        for code in person.events[bisect_right(person.events, cutoff):]:
            total -= 1
            if (hour_of_week(code >> 3) - how + 1) % HOURS_OF_WEEK <= 2:
                near -= 1
    # Halving rounds counts down, so the correction can overshoot: clamp.
    return min(1.0, max(0.0, near / total)) if total > 0 else 0.0


class BehaviourBook:
    """Engagement state per contact key; a `LeadFeatureStore` and `Persistent`."""

    def __init__(self, session_gap_minutes: float = 30.0) -> None:
        self.session_gap_ms = int(session_gap_minutes * 60_000)
        self._people: dict[str, _Person] = {}
        self._dirty = DirtyKeys()

    def __len__(self) -> int:
        return len(self._people)

    # --- writing ------------------------------------------------------------------------

    def observe_event(self, event: EngagementEvent) -> bool:
        """Count a normalised event (see `decode_event`); False if it changed nothing."""
        return self._add(event.email, event.phone, event.occurred_ms, _KIND_CODE[event.kind])

    def observe(self, lead: Lead, cells: H3Cells, now_ms: int) -> None:
        """The lead is the person's inquiry: count it for their later leads."""
        self._add(lead.email, lead.phone, int(lead.event_time.timestamp() * 1000), _INQUIRY)

    def _add(self, email: str | None, phone: str | None, ms: int, kind: int) -> bool:
        code = ms << 3 | kind
        counted = False
        people = self._people
        for key in contact_keys(email, phone):
            person = people.get(key)
            if person is None:
                person = people[key] = _Person([], {})
            if person.add(ms, code):
                self._dirty.touch(key)
                counted = True
        return counted

    def expire(self, now_ms: int) -> int:
        """Forget people without an event in the 7 days before `now_ms`; how many."""
        horizon = (now_ms - WEEK_MS) << 3
        idle = [key for key, person in self._people.items()
                if not person.events or person.events[-1] < horizon]
        for key in idle:
            del self._people[key]
            self._dirty.touch(key)
        return len(idle)

    # --- reading ------------------------------------------------------------------------

    def features(self, lead: Lead, cells: H3Cells, now_ms: int) -> Features:
        """The `beh_*` features of the lead's person as of `now_ms` (module docstring)."""
        people = self._people
        found = []
        if lead.email and (person := people.get("e:" + lead.email)) is not None:
            found.append(person)
        if lead.phone and (person := people.get("p:" + lead.phone)) is not None:
            found.append(person)
        if not found:
            return dict(NEUTRAL)
        events = found[0].events if len(found) == 1 else _merged(found[0].events, found[1].events)
        cutoff = now_ms << 3 | 7  # the largest code at or before now
        end = bisect_right(events, cutoff)
        start = bisect_left(events, (now_ms - WEEK_MS) << 3, 0, end)
        if start == end:
            return dict(NEUTRAL)
        n_day = end - bisect_left(events, (now_ms - DAY_MS) << 3, start, end)
        n_hour = end - bisect_left(events, (now_ms - HOUR_MS) << 3, start, end)
        gap = self.session_gap_ms
        groups = [0, 0, 0, 0]
        sessions = 1
        score = 0.0
        previous = events[start] >> 3
        for code in events[start:end]:
            ms = code >> 3
            if ms - previous > gap:
                sessions += 1
            previous = ms
            kind = code & 7
            groups[_GROUP[kind]] += 1
            score += SCORE_WEIGHTS[kind] * _exp((ms - now_ms) * _SCORE_RATE)
        last = previous
        age = now_ms - last
        return {
            "beh_events_1h": _log1p(n_hour),
            "beh_events_24h": _log1p(n_day),
            "beh_events_7d": _log1p(end - start),
            "beh_views_7d": _log1p(groups[0]),
            "beh_saves_7d": _log1p(groups[1]),
            "beh_emails_7d": _log1p(groups[2]),
            "beh_contacts_7d": _log1p(groups[3]),
            "beh_sessions_7d": _log1p(sessions),
            "beh_in_session": 1.0 if age <= gap else 0.0,
            "beh_recency": max(0.0, 1.0 - _log1p(age / HOUR_MS) / _LOG_WEEK_HOURS),
            "beh_hour_share": _hour_share(found, int(lead.event_time.timestamp() * 1000), cutoff),
            "beh_score": _log1p(score),
        }

    # --- persistence (streams.features.store.Persistent) ----------------------------------------

    def take_dirty(self) -> list[str]:
        return self._dirty.take()

    def export(self, key: str) -> Any | None:
        person = self._people.get(key)
        if person is None:
            return None
        return {"ev": list(person.events), "how": [[h, c] for h, c in person.hours.items()]}

    def restore(self, key: str, value: Any) -> None:
        self._people[key] = _Person(
            [int(code) for code in value["ev"]],
            {int(h): int(c) for h, c in value["how"]},
        )
