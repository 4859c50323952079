"""What one buyer may do per day and at once: their own limits over the deployment's."""

from __future__ import annotations

from typing import NamedTuple

from schemas.market import BuyerLimits


class Limits(NamedTuple):
    concurrent_holds: int
    leads_per_day: int
    daily_spend_cents: int  # 0 = no cap


def effective_limits(own: BuyerLimits, defaults: BuyerLimits) -> Limits:
    """A buyer's limit where set (non-zero), else the default.

    >>> effective_limits(BuyerLimits(leads_per_day=5), BuyerLimits(concurrent_holds=3,
    ...                  leads_per_day=100, daily_spend_usd=250.5))
    Limits(concurrent_holds=3, leads_per_day=5, daily_spend_cents=25050)
    """
    spend = own.daily_spend_usd or defaults.daily_spend_usd
    return Limits(own.concurrent_holds or defaults.concurrent_holds,
                  own.leads_per_day or defaults.leads_per_day, round(spend * 100))


LIMIT_SENTENCES = {
    "concurrent_holds": "You hold as many leads as your limit allows; buy or release some first.",
    "leads_per_day": "Your leads-per-day limit is reached (held and bought count); it resets "
                     "at midnight UTC.",
    "daily_spend": "This lead would take you over your daily spend cap (held and bought "
                   "count); it resets at midnight UTC.",
}
