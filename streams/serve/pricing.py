"""What a lead's property is worth and what the lead itself sells for: one place for both.

The marketplace prices a lead from its stated property price, on the server (a client never
sets a price). Rents are compared with sale prices through `RENT_TO_PRICE`.
"""

from __future__ import annotations

#: Monthly rent as a share of home value (a gross yield of about 6.6 % a year).
RENT_TO_PRICE = 0.0055

# Pricier homes make pricier leads (the simulator's outcomes are drawn the same way).
LEAD_PRICE_FLOOR = 20.0
LEAD_PRICE_SPAN = 130.0
LEAD_PRICE_TOP_VALUE = 1_500_000.0


def home_value(price: float | None, intent: str) -> float | None:
    """The home value a stated price means: a monthly rent turned into a value; None if unknown.

    >>> home_value(2_750.0, "rent"), home_value(450_000.0, "buy"), home_value(0.0, "buy")
    (500000.0, 450000.0, None)
    """
    if not price or price <= 0:
        return None
    return price / RENT_TO_PRICE if intent == "rent" else price


def expected_lead_price(price: float | None) -> float:
    """The price a lead is expected to sell for, USD, from its stated price.

    >>> expected_lead_price(750_000.0), expected_lead_price(None)
    (85.0, 46.0)
    """
    share = min(1.0, (price or 300_000.0) / LEAD_PRICE_TOP_VALUE)
    return round(LEAD_PRICE_FLOOR + LEAD_PRICE_SPAN * share, 2)
