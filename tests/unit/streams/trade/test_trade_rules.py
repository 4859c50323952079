"""The pure transaction rules: limits over defaults, hold lifetimes, the UTC day, Stripe
event actions, and what a sale or a return teaches the models."""

from __future__ import annotations

import pytest

from schemas.cart import CartEvent
from schemas.market import BuyerLimits
from streams.trade.audit import interaction_of, outcome_of
from streams.trade.holds import hold_ttl_s, seconds_to_midnight, utc_day
from streams.trade.limits import LIMIT_SENTENCES, Limits, effective_limits
from streams.trade.payments import action_for

DEFAULTS = BuyerLimits(concurrent_holds=100, leads_per_day=500, daily_spend_usd=25_000)


def test_own_limits_win_where_set_and_defaults_fill_the_rest() -> None:
    assert effective_limits(BuyerLimits(), DEFAULTS) == Limits(100, 500, 2_500_000)
    assert effective_limits(BuyerLimits(concurrent_holds=3, daily_spend_usd=99.99),
                            DEFAULTS) == Limits(3, 500, 9_999)
    assert set(LIMIT_SENTENCES) == {"concurrent_holds", "leads_per_day", "daily_spend"}


def test_premium_buyers_hold_longer() -> None:
    assert hold_ttl_s("premium", 900, 1800) == 1800
    assert hold_ttl_s("standard", 900, 1800) == 900


@pytest.mark.parametrize(("now_ms", "day", "left_s"), [
    (0, "19700101", 86_400),
    (86_399_999, "19700101", 1),
    (1_796_404_915_381, "20261204", 86_400 - (1_796_404_915_381 % 86_400_000) // 1000),
])
def test_daily_limits_count_in_utc_days(now_ms: int, day: str, left_s: int) -> None:
    assert utc_day(now_ms) == day
    assert seconds_to_midnight(now_ms) == left_s


def test_only_payment_outcomes_act_and_everything_else_is_recorded_only() -> None:
    assert action_for("payment_intent.succeeded") == "sell"
    assert action_for("payment_intent.payment_failed") == "fail"
    assert action_for("payment_intent.canceled") == "cancel"
    for other in ("payment_intent.created", "charge.succeeded", "", "payment_intent.SUCCEEDED"):
        assert action_for(other) == "ignore"


def _event(kind: str, **fields: object) -> CartEvent:
    values: dict[str, object] = {"event_id": "1-0", "kind": kind, "buyer_id": "b-1",
                                 "occurred_ms": 1_000, "lead_id": "lead-1",
                                 "amount_cents": 4_650, "cell": "608533320759263231"}
    values.update(fields)
    return CartEvent(**values)  # type: ignore[arg-type]


def test_a_sale_is_a_purchase_outcome_and_interaction_a_return_a_return() -> None:
    sold = outcome_of(_event("sold"))
    assert sold is not None and (sold.kind, sold.amount, sold.buyer_id) == ("purchase", 46.5,
                                                                            "b-1")
    back = outcome_of(_event("return"))
    assert back is not None and back.kind == "return" and not back.converted
    bought = interaction_of(_event("sold"), "brk-9")
    assert bought is not None
    assert (bought.kind, bought.h3_r7, bought.brokerage_id, bought.amount) == (
        "purchase", 608533320759263231, "brk-9", 46.5)
    held = interaction_of(_event("hold"), "brk-9")
    assert held is not None and held.kind == "hold" and held.amount is None


@pytest.mark.parametrize("kind", ["cart_add", "checkout", "paid", "credit", "hold_expired",
                                  "undeliverable", "refund", "extend"])
def test_bookkeeping_events_teach_nothing(kind: str) -> None:
    assert outcome_of(_event(kind)) is None
    assert interaction_of(_event(kind), "") is None
    assert outcome_of(_event("sold", lead_id="")) is None
