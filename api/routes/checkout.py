"""Checkout with Stripe, and Stripe's webhooks.

`POST /v1/checkout` reserves the leads the buyer holds (all or nothing, the amount from the
server's prices, credit first) and creates one PaymentIntent per `Idempotency-Key`: the
same key again (concurrently too) answers the same checkout, a different request under
the key is a 422. `POST /v1/webhooks/stripe` verifies the signature, applies each event id
once, and sells on `payment_intent.succeeded`: each lead exactly once, its contact details
in the buyer's order, out of every ranking and feed, a `purchase` outcome to the models.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.responses import JSONResponse

from api.auth import Caller, require
from api.deps import SettingsDep
from api.errors import ApiError, error_responses
from api.routes.cart import buyer_of, market, now_ms
from api.trade_models import CheckoutPublic, CheckoutRequest, cents_usd
from infra.marketplace.payments import BadSignature, PaymentError, Payments
from infra.marketplace.store import Marketplace, Refused, Sale
from infra.metrics import CHECKOUTS, SALES, WEBHOOKS
from infra.redis_store import RedisRankings
from streams.serve.ranking import SOLD, Removal
from streams.trade.payments import action_for

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["checkout"])
CartCaller = Annotated[Caller, Depends(require("cart"))]
_WAIT_FOR_FIRST_S = 15.0  # a concurrent request with the same key waits for the first


def payments(request: Request) -> Payments:
    return request.app.state.payments


@router.post("/checkout", status_code=status.HTTP_201_CREATED, response_model=CheckoutPublic,
             responses=error_responses(400, 401, 403, 409, 422, 429, 502, 503))
async def checkout(request: Request, body: CheckoutRequest, caller: CartCaller,
                   settings: SettingsDep,
                   idempotency_key: Annotated[str, Header(min_length=8, max_length=128,
                                                          alias="Idempotency-Key")]
                   ) -> Response:
    """Pay for held leads. Needs an `Idempotency-Key` header (a fresh random string per
    purchase): retrying with it never charges twice."""
    buyer = buyer_of(caller)
    store = market(request)
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    first = await store.claim(buyer, idempotency_key, fingerprint)
    if first is not None:
        return await _replay(store, buyer, idempotency_key, fingerprint)
    try:
        public = await _checkout(request, store, buyer, body, settings.checkout_hold_seconds)
    except BaseException:
        await store.forget(buyer, idempotency_key)  # nothing charged: the key may be reused
        raise
    payload = public.model_dump_json().encode()
    await store.complete(buyer, idempotency_key, 201, payload)
    CHECKOUTS.labels("ok").inc()
    return Response(payload, status_code=201, media_type="application/json")


async def _replay(store: Marketplace, buyer: str, key: str, fingerprint: str) -> Response:
    deadline = asyncio.get_running_loop().time() + _WAIT_FOR_FIRST_S
    while True:
        record = await store.idempotency(buyer, key)
        if record is None:
            raise ApiError(409, "idempotency_retry", "The first request with this "
                           "Idempotency-Key failed; send it again.")
        if record.fingerprint != fingerprint:
            raise ApiError(422, "idempotency_key_reused", "This Idempotency-Key was used for "
                           "a different checkout; use a new key for a new purchase.")
        if record.state == "done":
            CHECKOUTS.labels("replayed").inc()
            return Response(record.body, status_code=record.status,
                            media_type="application/json", headers={"Idempotent-Replayed": "true"})
        if asyncio.get_running_loop().time() > deadline:
            raise ApiError(409, "idempotency_in_progress", "A checkout with this "
                           "Idempotency-Key is still in progress; retry shortly.",
                           headers={"Retry-After": "2"})
        await asyncio.sleep(0.05)


async def _checkout(request: Request, store: Marketplace, buyer: str, body: CheckoutRequest,
                    lock_s: float) -> CheckoutPublic:
    now = now_ms()
    lead_ids = list(dict.fromkeys(body.lead_ids)) if body.lead_ids is not None else [
        h.lead_id for h in await store.holds(buyer, now)]
    if not lead_ids:
        CHECKOUTS.labels("refused").inc()
        raise ApiError(409, "nothing_held", "You hold no leads to buy; hold them first.")
    checkout_id = "co_" + uuid.uuid4().hex
    reserved = await store.checkout(buyer, checkout_id, lead_ids, now, now + int(lock_s * 1000))
    if isinstance(reserved, Refused):
        CHECKOUTS.labels("refused").inc()
        what = ", ".join(f"{lead} ({why})" for lead, why in reserved.leads[:10])
        raise ApiError(409, "not_held", f"Hold every lead you buy; not held now: {what}.")
    public = CheckoutPublic(
        checkout_id=checkout_id, payment_intent=None, client_secret=None,
        lead_ids=[i.lead_id for i in reserved.items], total_usd=cents_usd(reserved.total_cents),
        credit_usd=cents_usd(reserved.credit_cents), amount_usd=cents_usd(reserved.amount_cents))
    if reserved.amount_cents == 0:  # credit paid for everything: sold now
        sale = await store.sell(f"credit:{checkout_id}", checkout_id, "", now_ms())
        await _after_sale(request, sale)
        return public.model_copy(update={"order_id": sale.order_id})
    try:
        intent = await payments(request).create_intent(
            reserved.amount_cents, f"{buyer}:{checkout_id}",
            {"checkout_id": checkout_id, "buyer_id": buyer})
    except PaymentError as exc:
        CHECKOUTS.labels("error").inc()
        await store.abandon_checkout(checkout_id, now_ms())
        raise ApiError(502, "payment_unavailable", f"{exc} Nothing was charged; retry.") from None
    await store.attach_payment(checkout_id, intent.id)
    return public.model_copy(update={"payment_intent": intent.id,
                                     "client_secret": intent.client_secret})


async def _after_sale(request: Request, sale: Sale) -> None:
    if sale.order is None:
        return
    SALES.inc(len(sale.order.leads))
    # At once for the feeds; the purchase interaction the relay sends does it again durably.
    rankings: RedisRankings = request.app.state.rankings
    await rankings.apply([Removal(s.lead_id, SOLD) for s in sale.order.leads])


@router.post("/webhooks/stripe", responses=error_responses(400, 404, 503), tags=["stripe"])
async def stripe_webhook(request: Request,
                         stripe_signature: Annotated[str | None, Header()] = None
                         ) -> JSONResponse:
    """Stripe's events, signed (`AIQ_STRIPE_WEBHOOK_SECRET`, `Stripe-Signature`). Each
    event id is applied once; duplicates and events that change nothing answer 200."""
    payload = await request.body()
    try:
        event = payments(request).verify(payload, stripe_signature)
    except BadSignature as exc:
        WEBHOOKS.labels("bad_signature").inc()
        raise ApiError(400, "bad_signature", f"The Stripe signature does not verify: {exc}"
                       ) from None
    result = await _apply(request, event)
    WEBHOOKS.labels(result).inc()
    return JSONResponse({"received": True, "result": result})


async def _apply(request: Request, event: dict[str, Any]) -> str:
    event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
    intent = (event.get("data") or {}).get("object") or {}
    intent_id = str(intent.get("id", "")) if isinstance(intent, dict) else ""
    if not event_id or not kind:
        raise ApiError(400, "bad_event", "A Stripe event needs an id and a type.")
    store = market(request)
    action = action_for(kind)
    if action == "ignore":
        return "applied" if await store.mark_event(event_id) else "duplicate"
    checkout_id = await store.checkout_of_payment(intent_id) if intent_id else None
    if checkout_id is None:
        # Stripe retries a 4xx: covers an event racing ahead of the checkout that made it.
        raise ApiError(404, "unknown_payment_intent",
                       f"No checkout made PaymentIntent {intent_id[:64]!r}.")
    if action == "sell":
        sale = await store.sell(event_id, checkout_id, intent_id, now_ms())
        await _after_sale(request, sale)
        return sale.result
    reason = ""
    if action == "fail":
        error = intent.get("last_payment_error") or {}
        reason = str(error.get("message", "")) if isinstance(error, dict) else ""
    return await store.settle(event_id, checkout_id, "failed" if action == "fail" else
                              "canceled", intent_id, now_ms(), reason)
