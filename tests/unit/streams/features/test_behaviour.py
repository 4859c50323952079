"""The behaviour book: sessions, windows, recency, hour of week, score, persistence, expiry."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import msgspec
import pytest

from schemas.codec import encode
from schemas.engagement import EngagementEvent, EngagementKind
from schemas.lead import Lead
from streams.enrich import NO_CELLS
from streams.features.behaviour import (
    DAY_MS,
    FEATURE_NAMES,
    HOUR_MS,
    HOURS_CAP,
    MAX_EVENTS,
    NEUTRAL,
    WEEK_MS,
    BadEngagement,
    BehaviourBook,
    decode_event,
    hour_of_week,
    too_far_ahead,
)

MINUTE_MS = 60_000
#: Tuesday 7 January 2025, 20:00 UTC.
T0 = int(datetime(2025, 1, 7, 20, 0, tzinfo=UTC).timestamp() * 1000)
EMAIL = "jane.doe@example.com"
PHONE = "+15125550134"


def event(
    ms: int, kind: EngagementKind = "page_view", *, email: str | None = EMAIL,
    phone: str | None = None,
) -> EngagementEvent:  # fmt: skip
    return EngagementEvent(event_id=f"{kind}-{ms}", kind=kind, occurred_ms=ms, email=email,
                           phone=phone)


def lead(ms: int = T0, *, email: str | None = EMAIL, phone: str | None = None) -> Lead:
    at = datetime.fromtimestamp(ms / 1000, UTC)
    return Lead(lead_id=f"l{ms}", source="portal", source_lead_id=str(ms), event_time=at,
                received_time=at, email=email, phone=phone)


def book_with(*events: EngagementEvent, gap_minutes: float = 30.0) -> BehaviourBook:
    book = BehaviourBook(session_gap_minutes=gap_minutes)
    for e in events:
        book.observe_event(e)
    return book


def features(book: BehaviourBook, now_ms: int, **who: str | None) -> dict[str, float]:
    return book.features(lead(now_ms, **who), NO_CELLS, now_ms)  # type: ignore[arg-type]


def count(value: float) -> int:
    return round(math.expm1(value))


# --- decoding -------------------------------------------------------------------------------


def test_decoding_normalises_contacts_as_leads_are() -> None:
    raw = encode(EngagementEvent(event_id="x", kind="save", occurred_ms=T0,
                                 email="  Jane.Doe@Example.COM ", phone="(512) 555-0134"))
    decoded = decode_event(raw)
    assert (decoded.email, decoded.phone) == (EMAIL, PHONE)
    assert (decoded.event_id, decoded.kind, decoded.occurred_ms) == ("x", "save", T0)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"event_id": "x", "kind": "save"', "bad_json"),
        (b'{"event_id": "x", "kind": "teleport", "occurred_ms": 1, "email": "a@b.co"}',
         "bad_shape"),
        (b'{"event_id": "x", "kind": "save", "occurred_ms": -5, "email": "a@b.co"}',
         "bad_shape"),
        (b'{"event_id": "x", "kind": "save", "occurred_ms": 1}', "missing_contact"),
        (b'{"event_id": "x", "kind": "save", "occurred_ms": 1, "email": "nope", "phone": "12"}',
         "missing_contact"),
    ],
)
def test_undecodable_events_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadEngagement) as refused:
        decode_event(raw)
    assert refused.value.reason == reason


def test_events_dated_over_a_day_ahead_are_too_far_ahead() -> None:
    assert not too_far_ahead(event(T0 + DAY_MS), T0)
    assert too_far_ahead(event(T0 + DAY_MS + 1), T0)


# --- features -------------------------------------------------------------------------------


def test_no_engagement_gives_neutral_zeros() -> None:
    book = book_with(event(T0, email="someone.else@example.com"))
    assert features(book, T0) == NEUTRAL
    assert set(NEUTRAL) == set(FEATURE_NAMES) and set(NEUTRAL.values()) == {0.0}
    assert features(BehaviourBook(), T0, email=None, phone=PHONE) == NEUTRAL


@pytest.mark.parametrize(("gap_minutes", "sessions"), [(30.0, 2), (40.0, 1), (5.0, 4)])
def test_sessions_split_at_the_inactivity_gap(gap_minutes: float, sessions: int) -> None:
    # Gaps of 10, 29, 36 minutes (and the last event 5 minutes before now).
    times = [T0, T0 + 10 * MINUTE_MS, T0 + 39 * MINUTE_MS, T0 + 75 * MINUTE_MS]
    book = book_with(*(event(ms) for ms in times), gap_minutes=gap_minutes)
    got = features(book, T0 + 80 * MINUTE_MS)
    assert count(got["beh_sessions_7d"]) == sessions
    assert got["beh_in_session"] == (1.0 if gap_minutes >= 5.0 else 0.0)


def test_in_session_ends_after_the_gap() -> None:
    book = book_with(event(T0))
    assert features(book, T0 + 30 * MINUTE_MS)["beh_in_session"] == 1.0
    assert features(book, T0 + 31 * MINUTE_MS)["beh_in_session"] == 0.0


def test_window_counts_roll_off() -> None:
    book = book_with(event(T0), event(T0 + 1, "save"), event(T0 + 2, "email_click"),
                     event(T0 + 3, "call", email=None, phone=PHONE))

    def windows(now_ms: int) -> tuple[int, int, int]:
        got = features(book, now_ms, phone=PHONE)
        return (count(got["beh_events_1h"]), count(got["beh_events_24h"]),
                count(got["beh_events_7d"]))

    assert windows(T0 + 30 * MINUTE_MS) == (4, 4, 4)
    assert windows(T0 + 2 * HOUR_MS) == (0, 4, 4)
    assert windows(T0 + 2 * DAY_MS) == (0, 0, 4)
    assert windows(T0 + WEEK_MS + 4) == (0, 0, 0)
    assert features(book, T0 + WEEK_MS + 4, phone=PHONE) == NEUTRAL


def test_kind_groups_are_counted_apart() -> None:
    kinds: list[EngagementKind] = ["page_view", "page_view", "page_view", "save", "email_open",
                                   "email_click", "inquiry", "call"]
    book = book_with(*(event(T0 + i * MINUTE_MS, kind) for i, kind in enumerate(kinds)))
    got = features(book, T0 + HOUR_MS)
    assert [count(got[f"beh_{group}_7d"]) for group in ("views", "saves", "emails", "contacts")] \
        == [3, 1, 2, 2]


def test_recency_falls_with_time_since_the_last_event() -> None:
    book = book_with(event(T0))
    recency = [features(book, T0 + hours * HOUR_MS)["beh_recency"] for hours in (0, 1, 24, 100)]
    assert recency[0] == 1.0
    assert recency == sorted(recency, reverse=True) and len(set(recency)) == 4
    assert 0.0 < recency[-1] < 0.2


def test_hour_of_week_is_monday_based_utc() -> None:
    monday = int(datetime(2025, 1, 6, tzinfo=UTC).timestamp() * 1000)
    assert hour_of_week(monday) == 0
    assert hour_of_week(T0) == 24 + 20
    assert hour_of_week(monday - 1) == 167


def test_hour_share_is_the_habit_around_the_leads_hour() -> None:
    # Tuesday 18:00 and 19:01, and a Saturday 10:00 (UTC).
    book = book_with(event(T0 - 2 * HOUR_MS), event(T0 - 59 * MINUTE_MS),
                     event(T0 - 3 * DAY_MS - 10 * HOUR_MS))
    assert features(book, T0)["beh_hour_share"] == pytest.approx(1 / 3)  # 19-21 h: 19:01
    at_19 = T0 - 58 * MINUTE_MS
    assert features(book, at_19)["beh_hour_share"] == pytest.approx(2 / 3)  # 18-20 h
    assert features(book, T0 + 5 * HOUR_MS)["beh_hour_share"] == 0.0  # Wednesday 01:00


def test_engagement_score_is_monotone_in_activity() -> None:
    now = T0 + HOUR_MS
    scores = []
    book = BehaviourBook()
    for i in range(5):
        book.observe_event(event(T0 + i * MINUTE_MS))
        scores.append(features(book, now)["beh_score"])
    assert scores == sorted(scores) and len(set(scores)) == 5
    # A raised hand weighs more than a view; the same event counts less when older.
    inquiry = features(book_with(event(T0, "inquiry")), now)["beh_score"]
    view = features(book_with(event(T0)), now)["beh_score"]
    older_view = features(book_with(event(T0 - DAY_MS)), now)["beh_score"]
    assert inquiry > view > older_view > 0.0
    assert math.expm1(view) / math.expm1(older_view) == pytest.approx(2.0)  # 24 h half-life


def test_events_after_now_never_count() -> None:
    book = book_with(event(T0), event(T0 + 30 * MINUTE_MS, "inquiry"))
    before = features(book, T0 + MINUTE_MS)
    assert before == features(book_with(event(T0)), T0 + MINUTE_MS)
    assert count(before["beh_contacts_7d"]) == 0 and before["beh_hour_share"] == 1.0
    assert features(book, T0 - 1) == NEUTRAL
    # Not in the hour-of-week habit either: 18:00 is the only habit as of 20:01.
    habit = book_with(event(T0 - 2 * HOUR_MS), event(T0 + 30 * MINUTE_MS))
    assert features(habit, T0 + MINUTE_MS)["beh_hour_share"] == 0.0


def test_a_redelivered_event_counts_once() -> None:
    book = BehaviourBook()
    assert book.observe_event(event(T0))
    assert not book.observe_event(event(T0))
    assert count(features(book, T0)["beh_events_1h"]) == 1


def test_email_and_phone_histories_join_without_double_counting() -> None:
    book = book_with(
        event(T0, "inquiry", email=EMAIL, phone=PHONE),  # under both keys
        event(T0 + MINUTE_MS, "page_view", email=EMAIL),
        event(T0 + 2 * MINUTE_MS, "call", email=None, phone=PHONE),
    )
    now = T0 + 10 * MINUTE_MS
    assert count(features(book, now, email=EMAIL, phone=PHONE)["beh_events_1h"]) == 3
    assert count(features(book, now, email=EMAIL)["beh_events_1h"]) == 2
    assert count(features(book, now, email=None, phone=PHONE)["beh_events_1h"]) == 2


def test_a_lead_counts_as_an_inquiry_for_the_next_lead() -> None:
    book = BehaviourBook()
    first = lead(T0, phone=PHONE)
    assert book.features(first, NO_CELLS, T0) == NEUTRAL
    book.observe(first, NO_CELLS, T0)
    later = features(book, T0 + HOUR_MS, email=None, phone=PHONE)
    assert count(later["beh_contacts_7d"]) == 1


def test_state_per_person_is_bounded_and_features_stay_finite() -> None:
    book = book_with(*(event(T0 + i * 1000, "save") for i in range(5 * MAX_EVENTS)))
    kept = book.export(f"e:{EMAIL}")
    assert kept is not None
    assert len(kept["ev"]) == MAX_EVENTS
    assert sum(c for _, c in kept["how"]) <= HOURS_CAP
    got = features(book, T0 + HOUR_MS)
    assert all(math.isfinite(v) and 0.0 <= v < 10.0 for v in got.values())
    assert count(got["beh_saves_7d"]) == MAX_EVENTS


# --- persistence and expiry -----------------------------------------------------------------


def test_export_restore_round_trip_gives_identical_features() -> None:
    book = book_with(event(T0 - 2 * DAY_MS, "email_open"), event(T0 - HOUR_MS, "save"),
                     event(T0, "inquiry", phone=PHONE), event(T0 + HOUR_MS))
    dirty = book.take_dirty()
    assert sorted(dirty) == [f"e:{EMAIL}", f"p:{PHONE}"]
    assert book.take_dirty() == []
    copy = BehaviourBook()
    for key in dirty:
        # Through JSON, as the table's changelog stores it.
        copy.restore(key, msgspec.json.decode(msgspec.json.encode(book.export(key))))
    for now in (T0, T0 + 2 * HOUR_MS, T0 + 3 * DAY_MS):
        for who in ({"email": EMAIL, "phone": PHONE}, {"email": None, "phone": PHONE}):
            assert copy.features(lead(now, **who), NO_CELLS, now) == \
                book.features(lead(now, **who), NO_CELLS, now)
    assert not copy.observe_event(event(T0 + HOUR_MS))  # dedupe state survives too


def test_people_idle_for_a_week_expire() -> None:
    book = book_with(event(T0), event(T0 + 3 * DAY_MS, email="active@example.com"))
    book.take_dirty()
    assert book.expire(T0 + WEEK_MS) == 0
    assert book.expire(T0 + WEEK_MS + 1) == 1
    assert book.take_dirty() == [f"e:{EMAIL}"]
    assert book.export(f"e:{EMAIL}") is None
    assert book.export("e:active@example.com") is not None
    assert len(book) == 1
