"""Marketplace key names, beside the rankings' (`infra.redis_store.KeyLayout`).

- ``hold:{lead}`` — the hold (``{buyer}|{token}|{expires_ms}``, PXAT its expiry);
  ``holding:{buyer}`` — HASH lead → ``{token}|{expires_ms}|{cents}|{started_ms}``, with
  ``holding:{buyer}|exp`` (ZSET lead by expiry) and ``holding:{buyer}|cents`` (their worth)
  kept in step, so a hold's limit check does not scan the buyer's holds;
  ``holds:expiry`` — ZSET ``{lead}|{buyer}|{token}`` by expiry, for the sweeper;
  ``holds:seq`` — the fencing-token counter.
- ``cart:{buyer}`` — ZSET of leads by time added.
- ``checkout:{id}`` — HASH (buyer, items with tokens and cents, amounts, status);
  ``payment:{pi}`` — the checkout of a PaymentIntent; ``idem:{buyer}:{key}`` — a
  checkout's idempotency record; ``stripe:event:{id}`` — an applied webhook event.
- ``sold:{lead}`` — the order that bought it (no expiry: sold once, for good);
  ``order:{id}`` — the order (JSON, with contact details); ``orders:{buyer}`` — ZSET.
- ``credit:{buyer}`` — balance in cents; ``day:{buyer}:{yyyymmdd}`` — leads and cents
  bought that UTC day; ``limits:{buyer}`` — an operator's overrides of the limits.
- ``outbox`` — STREAM of audit events, relayed to `cart.events` and deleted once acked.
"""

from __future__ import annotations

from infra.redis_store import KeyLayout


class TradeKeys(KeyLayout):
    __slots__ = ()

    def holding(self, buyer_id: str) -> str:
        return f"{self.prefix}holding:{buyer_id}"

    def hold_expiry(self) -> str:
        return f"{self.prefix}holds:expiry"

    def hold_seq(self) -> str:
        return f"{self.prefix}holds:seq"

    def cart(self, buyer_id: str) -> str:
        return f"{self.prefix}cart:{buyer_id}"

    def checkout(self, checkout_id: str) -> str:
        return f"{self.prefix}checkout:{checkout_id}"

    def payment(self, intent_id: str) -> str:
        return f"{self.prefix}payment:{intent_id}"

    def idempotency(self, buyer_id: str, key: str) -> str:
        return f"{self.prefix}idem:{buyer_id}:{key}"

    def stripe_event(self, event_id: str) -> str:
        return f"{self.prefix}stripe:event:{event_id}"

    def sold(self, lead_id: str) -> str:
        return f"{self.prefix}sold:{lead_id}"

    def order(self, order_id: str) -> str:
        return f"{self.prefix}order:{order_id}"

    def orders(self, buyer_id: str) -> str:
        return f"{self.prefix}orders:{buyer_id}"

    def credit(self, buyer_id: str) -> str:
        return f"{self.prefix}credit:{buyer_id}"

    def day(self, buyer_id: str, day: str) -> str:
        return f"{self.prefix}day:{buyer_id}:{day}"

    def limits(self, buyer_id: str) -> str:
        return f"{self.prefix}limits:{buyer_id}"

    def outbox(self) -> str:
        return f"{self.prefix}outbox"
