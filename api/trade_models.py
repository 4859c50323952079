"""What the transaction routes take and answer. Request bodies forbid unknown fields: a
price, amount, buyer or status sent by a client is a 422, never obeyed."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.models import LeadPublic
from infra.marketplace.store import HoldOutcome, HoldView, LeadReturn, Order
from streams.trade.holds import RESULT_SENTENCES
from streams.trade.limits import LIMIT_SENTENCES, Limits

LeadId = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                          pattern=r"^[A-Za-z0-9_.:-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OneLead(Strict):
    lead_id: LeadId


class ManyLeads(Strict):
    lead_ids: list[LeadId] = Field(min_length=1, max_length=500,
                                   description="Up to 500 leads (`AIQ_BULK_MAX`), each once.")


def cents_usd(cents: int) -> float:
    return round(cents / 100, 2)


class ItemResult(BaseModel):
    """One lead's result in a bulk call."""

    lead_id: str
    result: str = Field(description="held, taken, sold, over_limit, not_found (holds); "
                                    "added, removed, not_found, sold, over_limit (cart); "
                                    "released, not_held (release).")
    detail: str
    token: int | None = Field(None, description="The hold's fencing token.")
    expires_ms: int | None = None

    @classmethod
    def of(cls, lead_id: str, result: str, limit: str = "", token: int = 0,
           expires_ms: int = 0) -> ItemResult:
        detail = LIMIT_SENTENCES.get(limit) or RESULT_SENTENCES.get(result, result)
        return cls(lead_id=lead_id, result=result, detail=detail,
                   token=token or None, expires_ms=expires_ms or None)

    @classmethod
    def of_hold(cls, h: HoldOutcome) -> ItemResult:
        return cls.of(h.lead_id, h.result, h.limit, h.token, h.expires_ms)


class BulkResults(BaseModel):
    results: list[ItemResult]
    counts: dict[str, int] = Field(description="How many items had each result.")

    @classmethod
    def of(cls, results: list[ItemResult]) -> BulkResults:
        counts: dict[str, int] = {}
        for r in results:
            counts[r.result] = counts.get(r.result, 0) + 1
        return cls(results=results, counts=counts)


class HoldPublic(BaseModel):
    lead_id: str
    token: int = Field(description="Fencing token: a newer hold on the lead has a larger one.")
    expires_ms: int
    price_usd: float | None = None

    @classmethod
    def of(cls, h: HoldView) -> HoldPublic:
        return cls(lead_id=h.lead_id, token=h.token, expires_ms=h.expires_ms,
                   price_usd=cents_usd(h.cents))


class CartItemPublic(BaseModel):
    lead_id: str
    added_ms: int
    lead: LeadPublic | None = Field(description="None once the lead left the market.")
    available: bool = Field(description="On the market and not held by another buyer.")


class CartPublic(BaseModel):
    items: list[CartItemPublic]
    holds: list[HoldPublic]
    held_total_usd: float
    credit_usd: float = Field(description="Your balance, taken off your next checkout.")


class CheckoutRequest(Strict):
    lead_ids: list[LeadId] | None = Field(
        None, max_length=500, description="Which held leads to buy; all you hold when absent.")


class CheckoutPublic(BaseModel):
    checkout_id: str
    payment_intent: str | None = Field(description="None when credit paid for everything.")
    client_secret: str | None = Field(description="For Stripe.js to confirm the payment.")
    lead_ids: list[str]
    total_usd: float
    credit_usd: float
    amount_usd: float = Field(description="What the card is charged: total less credit.")
    order_id: str | None = Field(None, description="Set when credit paid for everything.")


class ContactPublic(BaseModel):
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    street: str | None
    message: str
    consent: bool


class ReturnStatePublic(BaseModel):
    reason: str
    returned_ms: int
    refund_usd: float
    refund_to: str
    status: str
    refund_id: str = ""

    @classmethod
    def of(cls, r: LeadReturn) -> ReturnStatePublic:
        return cls(reason=r.reason, returned_ms=r.returned_ms, refund_usd=cents_usd(r.cents),
                   refund_to=r.to, status=r.status, refund_id=r.refund_id)


class SoldLeadPublic(BaseModel):
    lead_id: str
    price_usd: float
    contact: ContactPublic | None = Field(description="Revealed to the buyer, and only them.")
    lead: dict[str, object] | None = Field(description="The lead's card as it was sold.")
    returned: ReturnStatePublic | None = None


class OrderPublic(BaseModel):
    order_id: str
    checkout_id: str
    payment_intent: str
    created_ms: int
    total_usd: float
    credit_usd: float
    amount_usd: float
    leads: list[SoldLeadPublic]
    undelivered: list[str] = Field(description="Leads taken by another buyer before the "
                                               "payment arrived: credited, not charged twice.")

    @classmethod
    def of(cls, o: Order) -> OrderPublic:
        return cls(order_id=o.order_id, checkout_id=o.checkout_id,
                   payment_intent=o.payment_intent, created_ms=o.created_ms,
                   total_usd=cents_usd(o.total_cents), credit_usd=cents_usd(o.credit_cents),
                   amount_usd=cents_usd(o.amount_cents),
                   leads=[SoldLeadPublic(lead_id=s.lead_id, price_usd=cents_usd(s.cents),
                                         contact=ContactPublic(**msgspec.to_builtins(s.contact))
                                         if s.contact else None,
                                         lead=msgspec.to_builtins(s.card) if s.card else None,
                                         returned=ReturnStatePublic.of(o.returns[s.lead_id])
                                         if s.lead_id in o.returns else None)
                          for s in o.leads],
                   undelivered=[u.lead_id for u in o.undelivered])


class ReturnRequest(Strict):
    order_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    lead_id: LeadId
    reason: Literal["bad_contact", "duplicate", "fraud"]
    refund_to: Literal["card", "credit"] = "card"
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class ReturnPublic(BaseModel):
    order_id: str
    lead_id: str
    reason: str
    refund_usd: float
    refund_to: str
    status: str = Field(description="credited, refund_pending (Stripe not reached yet: "
                                    "send the same return again) or refunded.")
    refund_id: str = ""


class LimitsPublic(Strict):
    concurrent_holds: int = Field(ge=0, le=100_000, description="0 = no limit.")
    leads_per_day: int = Field(ge=0, le=1_000_000, description="0 = no limit.")
    daily_spend_usd: float = Field(ge=0, le=10_000_000, description="0 = no cap.")

    @classmethod
    def of(cls, limits: Limits) -> LimitsPublic:
        return cls(concurrent_holds=limits.concurrent_holds, leads_per_day=limits.leads_per_day,
                   daily_spend_usd=cents_usd(limits.daily_spend_cents))

    def limits(self) -> Limits:
        return Limits(self.concurrent_holds, self.leads_per_day,
                      round(self.daily_spend_usd * 100))
