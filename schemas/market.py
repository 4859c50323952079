"""Values of the market-side topics: competing offices, buyers and what buyers do with leads."""

from __future__ import annotations

from typing import Literal

import msgspec


class CompetitorOffice(msgspec.Struct, kw_only=True, frozen=True):
    """A competing brokerage office: the value of `market.competitors`, keyed by office_id.

    `active=False` retires an office (it closed or moved; a move is a retire plus a new id).
    """

    office_id: str
    brokerage: str
    lat: float
    lon: float
    city: str = ""
    state: str = ""
    active: bool = True
    updated_ms: int = 0


Tier = Literal["standard", "premium"]


class BuyerLimits(msgspec.Struct, kw_only=True, frozen=True):
    """What one buyer may do: 0 means the deployment's default (`Settings`) applies."""

    concurrent_holds: int = 0
    leads_per_day: int = 0
    daily_spend_usd: float = 0.0


class Buyer(msgspec.Struct, kw_only=True, frozen=True):
    """An agent or broker who buys leads, and what they are looking for.

    `tier`: premium buyers see a new lead at once; standard buyers after the priority
    window (`AIQ_PRIORITY_WINDOW_SECONDS`), in the feed and in recommendations alike.
    """

    buyer_id: str
    brokerage_id: str
    name: str = ""
    # Where they work: H3 res-7 cells (integers), usually a metro's worth.
    cells_r7: list[int] = []
    home_lat: float | None = None
    home_lon: float | None = None
    price_min: float = 0.0
    price_max: float = 0.0  # 0 = no upper bound
    property_types: list[str] = []  # empty = any
    intents: list[str] = msgspec.field(default_factory=lambda: ["buy", "sell"])
    budget_per_lead: float = 0.0  # the most they pay for one lead, USD; 0 = no limit
    tier: Tier = "standard"
    limits: BuyerLimits = msgspec.field(default_factory=BuyerLimits)


InteractionKind = Literal["view", "save", "hold", "release", "purchase", "return"]


class BuyerInteraction(msgspec.Struct, kw_only=True, frozen=True):
    """A buyer's action on a lead: the value of `buyer.interactions`, keyed by buyer_id."""

    buyer_id: str
    lead_id: str
    kind: InteractionKind
    occurred_ms: int
    h3_r7: int = 0  # the lead's cell, so market features need no lookup of the lead
    brokerage_id: str = ""
    amount: float | None = None  # purchase price of the lead
