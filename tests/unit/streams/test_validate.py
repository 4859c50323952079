"""Validation: each rule at its boundary, limits as parameters, NaN never slips through."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from schemas.lead import Lead
from streams.errors import BadValue, InFuture, LeadRejected, OutOfArea, TooOld
from streams.validate import MAX_BEDS, MAX_PRICE, validate

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(days=30)
MAX_SKEW = timedelta(minutes=5)

LEAD = Lead(
    lead_id="0" * 32,
    source="portal",
    source_lead_id="pi-1",
    event_time=NOW - timedelta(minutes=1),
    received_time=NOW,
    email="jane@example.com",
    price=455_000.0,
    beds=3,
    lat=30.2713,
    lon=-97.7426,
    location_precision="exact",
)


def check(lead: Lead, **limits: object) -> Lead:
    return validate(lead, NOW, **{"max_age": MAX_AGE, "max_skew": MAX_SKEW, **limits})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"event_time": NOW - MAX_AGE},  # boundaries are inclusive
        {"event_time": NOW + MAX_SKEW},
        {"price": None, "beds": None},
        {"price": 0.0, "beds": 0},
        {"price": MAX_PRICE, "beds": MAX_BEDS},
        {"lat": None, "lon": None, "location_precision": "none"},
        {"lat": 21.3069, "lon": -157.8583},  # Honolulu
        {"lat": 61.2181, "lon": -149.9003},  # Anchorage
        {"lat": 18.4655, "lon": -66.1057},  # San Juan
        {"lat": 40.7128, "lon": -74.0060, "location_precision": "zip"},
    ],
)
def test_valid_leads_pass_unchanged(changes: dict[str, object]) -> None:
    lead = msgspec.structs.replace(LEAD, **changes)
    assert check(lead) is lead


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"event_time": NOW - MAX_AGE - timedelta(seconds=1)}, TooOld),
        ({"event_time": datetime(1970, 1, 1, tzinfo=UTC)}, TooOld),
        ({"event_time": NOW + MAX_SKEW + timedelta(seconds=1)}, InFuture),
        ({"event_time": datetime(9999, 12, 31, tzinfo=UTC)}, InFuture),
        ({"price": -1.0}, BadValue),
        ({"price": MAX_PRICE + 1}, BadValue),
        ({"price": math.inf}, BadValue),
        ({"price": math.nan}, BadValue),
        ({"beds": -1}, BadValue),
        ({"beds": MAX_BEDS + 1}, BadValue),
        ({"beds": 10**20}, BadValue),
        ({"lat": 97.7426, "lon": 30.2713}, BadValue),  # swapped and off the globe
        ({"lat": math.nan}, BadValue),
        ({"lat": 51.5074, "lon": -0.1278}, OutOfArea),  # London
        ({"lat": 19.4326, "lon": -99.1332}, OutOfArea),  # Mexico City
        ({"lat": 30.2713, "lon": 97.7426}, OutOfArea),  # a dropped minus sign: Tibet
        ({"lat": 18.3419, "lon": -64.9307, "location_precision": "zip"}, OutOfArea),  # USVI
    ],
)
def test_rejections(changes: dict[str, object], error: type[LeadRejected]) -> None:
    with pytest.raises(error) as caught:
        check(msgspec.structs.replace(LEAD, **changes))
    assert caught.value.reason == error.reason


def test_time_rules_come_before_value_rules() -> None:
    lead = msgspec.structs.replace(LEAD, event_time=NOW - timedelta(days=365), price=-1.0)
    with pytest.raises(TooOld):
        check(lead)


def test_limits_are_parameters() -> None:
    lead = msgspec.structs.replace(LEAD, event_time=NOW - timedelta(days=2), price=200e6, beds=60)
    assert check(lead, max_age=timedelta(days=3), max_price=1e9, max_beds=100) is lead
    with pytest.raises(TooOld):
        check(lead, max_age=timedelta(days=1))
    with pytest.raises(InFuture):
        check(
            msgspec.structs.replace(LEAD, event_time=NOW + timedelta(seconds=2)),
            max_skew=timedelta(seconds=1),
        )
