"""How long a hold lasts, what each per-lead result means, and the UTC day limits count in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from schemas.market import Tier

HoldResult = Literal["held", "taken", "sold", "over_limit", "not_found"]

RESULT_SENTENCES: dict[str, str] = {
    "held": "You hold this lead.",
    "taken": "Another buyer holds this lead.",
    "sold": "This lead is sold.",
    "over_limit": "Over one of your limits.",
    "not_found": "No such lead on the market (unknown, expired, a duplicate or quarantined).",
    "not_held": "You do not hold this lead (never held, released or expired).",
    "released": "Released: the lead is back on the market.",
    "added": "In your cart.",
    "removed": "Out of your cart.",
}


def hold_ttl_s(tier: Tier, standard_s: float, premium_s: float) -> float:
    """Premium buyers hold longer."""
    return premium_s if tier == "premium" else standard_s


def utc_day(now_ms: int) -> str:
    """The UTC day that daily limits count in.

    >>> utc_day(1796404915381)
    '20261204'
    """
    return datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y%m%d")


def seconds_to_midnight(now_ms: int) -> int:
    """Until the daily limits reset, rounded up.

    >>> seconds_to_midnight(86_400_000 - 1_500)
    2
    """
    return int(-(-(86_400_000 - now_ms % 86_400_000) // 1000))
