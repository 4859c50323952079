"""Rules a parsed `Lead` must pass before it is enriched and scored.

Contract: `validate(lead, now, ...)` returns the same lead or raises TooOld, InFuture,
BadValue or OutOfArea (checked in that order). Limits are parameters: the agent passes
them from `Settings`. Every range check is written `lo <= x <= hi` so NaN fails it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.lead import Lead
from streams.errors import BadValue, InFuture, OutOfArea, TooOld
from streams.parse.geocode import in_us_area

MAX_PRICE = 100_000_000.0
MAX_BEDS = 50


def validate(
    lead: Lead,
    now: datetime,
    *,
    max_age: timedelta,
    max_skew: timedelta,
    max_price: float = MAX_PRICE,
    max_beds: int = MAX_BEDS,
) -> Lead:
    """`lead` if it is recent, plausible and inside the US service area; else raise."""
    if lead.event_time < now - max_age:
        raise TooOld(f"event_time {lead.event_time.isoformat()} is older than {max_age}")
    if lead.event_time > now + max_skew:
        raise InFuture(f"event_time {lead.event_time.isoformat()} is ahead of now + {max_skew}")
    if lead.price is not None and not 0.0 <= lead.price <= max_price:
        raise BadValue(f"price {lead.price!r} outside [0, {max_price:,.0f}]")
    if lead.beds is not None and not 0 <= lead.beds <= max_beds:
        raise BadValue(f"beds {lead.beds!r} outside [0, {max_beds}]")
    if lead.lat is not None and lead.lon is not None:
        if not (-90.0 <= lead.lat <= 90.0 and -180.0 <= lead.lon <= 180.0):
            raise BadValue(f"coordinates ({lead.lat!r}, {lead.lon!r}) are not on Earth")
        if not in_us_area(lead.lat, lead.lon):
            raise OutOfArea(f"({lead.lat:.4f}, {lead.lon:.4f}) is outside the US service area")
    return lead
