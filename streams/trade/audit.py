"""What the models and features learn from a marketplace change: a sale is a `purchase`
outcome and interaction, a return a `return` one, holds and releases are interactions."""

from __future__ import annotations

from schemas.cart import CartEvent
from schemas.market import BuyerInteraction
from schemas.outcome import Outcome

_INTERACTIONS = {"hold": "hold", "release": "release", "sold": "purchase", "return": "return"}
_OUTCOMES = {"sold": "purchase", "return": "return"}


def outcome_of(event: CartEvent) -> Outcome | None:
    kind = _OUTCOMES.get(event.kind)
    if kind is None or not event.lead_id:
        return None
    return Outcome(lead_id=event.lead_id, kind=kind, occurred_ms=event.occurred_ms,  # type: ignore[arg-type]
                   buyer_id=event.buyer_id, amount=event.amount_cents / 100)


def interaction_of(event: CartEvent, brokerage_id: str) -> BuyerInteraction | None:
    kind = _INTERACTIONS.get(event.kind)
    if kind is None or not event.lead_id:
        return None
    return BuyerInteraction(
        buyer_id=event.buyer_id, lead_id=event.lead_id, kind=kind,  # type: ignore[arg-type]
        occurred_ms=event.occurred_ms, h3_r7=int(event.cell or 0), brokerage_id=brokerage_id,
        amount=event.amount_cents / 100 if kind == "purchase" else None)
