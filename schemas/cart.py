"""The value of `cart.events`: one change to a cart, hold, checkout, order, payment or return.

Written by the marketplace API's Redis scripts in the same atomic step as the change (an
outbox stream), relayed to Kafka keyed by buyer, landed in ClickHouse `cart_events` once
per `event_id` (the outbox entry's id), so every transaction can be reconstructed.
"""

from __future__ import annotations

from typing import Literal

import msgspec

CartEventKind = Literal[
    "cart_add", "cart_remove", "hold", "extend", "release", "hold_expired", "checkout",
    "payment_failed", "payment_canceled", "paid", "sold", "undeliverable", "credit", "return",
    "refund",
]


class CartEvent(msgspec.Struct, kw_only=True, frozen=True):
    event_id: str  # the outbox entry id, e.g. "1796404915381-0": unique, in order
    kind: CartEventKind
    buyer_id: str
    occurred_ms: int
    lead_id: str = ""
    order_id: str = ""
    checkout_id: str = ""
    payment_intent: str = ""
    hold_token: int = 0
    amount_cents: int = 0
    credit_cents: int = 0
    expires_ms: int = 0
    reason: str = ""
    cell: str = ""  # the lead's H3 res-7 cell in decimal, as written ("0": unknown)
