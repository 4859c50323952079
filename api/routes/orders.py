"""A buyer's orders (with the contact details they bought) and returns.

A lead bought within `AIQ_RETURN_WINDOW_HOURS` can be returned once, with a reason: the
refund goes to the card through Stripe (idempotent per order and lead), or to the buyer's
credit at once; a `return` outcome teaches the models. Another buyer's order is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from api.auth import Caller, require
from api.deps import SettingsDep
from api.errors import ApiError, error_responses
from api.routes.cart import buyer_of, market, now_ms
from api.trade_models import OrderPublic, ReturnPublic, ReturnRequest, cents_usd
from infra.marketplace.payments import PaymentError, Payments
from infra.marketplace.store import LeadReturn

router = APIRouter(prefix="/v1", tags=["orders"])
OrdersCaller = Annotated[Caller, Depends(require("orders"))]
_ERRORS = (400, 401, 403, 422, 429, 503)


@router.get("/orders", response_model=list[OrderPublic], responses=error_responses(*_ERRORS))
async def list_orders(request: Request, caller: OrdersCaller,
                      limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[OrderPublic]:
    """Your orders, newest first."""
    orders = await market(request).orders(buyer_of(caller), limit)
    return [OrderPublic.of(o) for o in orders]


@router.get("/orders/{order_id}", response_model=OrderPublic,
            responses=error_responses(404, *_ERRORS))
async def get_order(request: Request, caller: OrdersCaller,
                    order_id: Annotated[str, Path(max_length=64)]) -> OrderPublic:
    order = await market(request).order(order_id)
    if order is None or order.buyer_id != buyer_of(caller):
        raise ApiError(404, "not_found", "No such order of yours.")
    return OrderPublic.of(order)


def _public(order_id: str, lead_id: str, r: LeadReturn) -> ReturnPublic:
    return ReturnPublic(order_id=order_id, lead_id=lead_id, reason=r.reason,
                        refund_usd=cents_usd(r.cents), refund_to=r.to, status=r.status,
                        refund_id=r.refund_id)


@router.post("/returns", status_code=status.HTTP_201_CREATED, response_model=ReturnPublic,
             responses=error_responses(404, 409, 502, *_ERRORS))
async def return_lead(request: Request, body: ReturnRequest, caller: OrdersCaller,
                      settings: SettingsDep) -> ReturnPublic:
    """Return a bought lead (bad contact, duplicate, fraud). A return whose card refund is
    still pending is finished by sending it again; a finished one is a 409."""
    buyer = buyer_of(caller)
    store = market(request)
    window_ms = int(settings.return_window_hours * 3_600_000)
    result, back = await store.return_lead(buyer, body.order_id, body.lead_id, body.reason,
                                           now_ms(), window_ms, body.refund_to)
    if result in ("not_found", "not_in_order"):
        raise ApiError(404, result, "No such lead in an order of yours.")
    if result == "too_late":
        raise ApiError(409, "return_window_passed", f"Leads can be returned within "
                       f"{settings.return_window_hours:g} hours of purchase.")
    assert back is not None
    if result == "already" and back.status != "refund_pending":
        raise ApiError(409, "already_returned", "This lead was returned already.")
    if back.status == "refund_pending":
        order = await store.order(body.order_id)
        assert order is not None
        pay: Payments = request.app.state.payments
        try:
            refund_id = await pay.refund(order.payment_intent, back.cents,
                                         f"return:{body.order_id}:{body.lead_id}")
        except PaymentError as exc:
            raise ApiError(502, "refund_pending", f"{exc} The return is recorded; send it "
                           "again to finish the refund.") from None
        await store.refunded(body.order_id, body.lead_id, refund_id, now_ms())
        back = LeadReturn(back.reason, back.returned_ms, back.cents, back.to, "refunded",
                          refund_id)
    return _public(body.order_id, body.lead_id, back)
