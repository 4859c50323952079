"""What a Stripe event does to a checkout. Stripe may send events twice, late and out of
order; each event id is applied once, and a paid checkout never goes back."""

from __future__ import annotations

from typing import Literal

Action = Literal["sell", "fail", "cancel", "ignore"]

_ACTIONS: dict[str, Action] = {
    "payment_intent.succeeded": "sell",
    "payment_intent.payment_failed": "fail",
    "payment_intent.canceled": "cancel",
}


def action_for(event_type: str) -> Action:
    """What to do with an event of this type.

    >>> action_for("payment_intent.succeeded"), action_for("payment_intent.created")
    ('sell', 'ignore')
    """
    return _ACTIONS.get(event_type, "ignore")


ReturnReason = Literal["bad_contact", "duplicate", "fraud", "other"]
