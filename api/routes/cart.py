"""A buyer's cart and holds. A hold is atomic (one holder per lead, across every API
process), carries a fencing token, and runs out by itself (`AIQ_HOLD_SECONDS`, longer for
premium buyers); a lead whose hold ended is back in rankings and feeds. Bulk calls take up
to 500 leads in one atomic step and answer a result per lead."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from api.auth import Caller, require
from api.deps import SettingsDep
from api.errors import ApiError, error_responses
from api.models import LeadPublic
from api.trade_models import (
    BulkResults,
    CartItemPublic,
    CartPublic,
    HoldPublic,
    ItemResult,
    LeadId,
    ManyLeads,
    OneLead,
    cents_usd,
)
from infra.market_view import MarketView
from infra.marketplace.store import HoldOutcome, Marketplace
from infra.metrics import HOLDS
from infra.settings import Settings
from schemas.market import Buyer, BuyerLimits
from streams.serve.decay import decayed
from streams.trade.holds import hold_ttl_s, seconds_to_midnight
from streams.trade.limits import LIMIT_SENTENCES, Limits, effective_limits

router = APIRouter(prefix="/v1", tags=["cart"])
CartCaller = Annotated[Caller, Depends(require("cart"))]
_ERRORS = (400, 401, 403, 422, 429, 503)


def now_ms() -> int:
    return int(time.time() * 1000)


def market(request: Request) -> Marketplace:
    return request.app.state.market


def buyer_of(caller: Caller) -> str:
    if caller.buyer is None:
        raise ApiError(403, "buyer_key_needed", "Carts, holds and orders belong to a buyer; "
                       "use a buyer's key, not an admin key.")
    return caller.buyer_id


def limits_of(buyer: Buyer | None, settings: Settings) -> Limits:
    """The buyer's own limits (`buyers.json`) over the deployment's defaults; an operator's
    overrides are applied on top inside the hold script."""
    defaults = BuyerLimits(concurrent_holds=settings.limit_concurrent_holds,
                           leads_per_day=settings.limit_leads_per_day,
                           daily_spend_usd=settings.limit_daily_spend_usd)
    own = buyer.limits if buyer is not None else BuyerLimits()
    return effective_limits(own, defaults)


def unique(lead_ids: list[str], settings: Settings) -> list[str]:
    ids = list(dict.fromkeys(lead_ids))
    if len(ids) > settings.bulk_max:
        raise ApiError(422, "too_many_leads", f"At most {settings.bulk_max} leads in one call.")
    return ids


async def _hold(request: Request, caller: Caller, settings: Settings, lead_ids: list[str]
                ) -> list[HoldOutcome]:
    buyer = buyer_of(caller)
    tier = caller.buyer.tier if caller.buyer is not None else "standard"
    ttl = hold_ttl_s(tier, settings.hold_seconds, settings.hold_seconds_premium)
    outcomes = await market(request).hold(buyer, lead_ids, now_ms(), int(ttl * 1000),
                                          limits_of(caller.buyer, settings))
    for o in outcomes:
        HOLDS.labels(o.result).inc()
    return outcomes


@router.post("/holds", status_code=status.HTTP_201_CREATED, response_model=HoldPublic,
             responses=error_responses(404, 409, *_ERRORS))
async def hold(request: Request, body: OneLead, caller: CartCaller,
               settings: SettingsDep) -> HoldPublic:
    """Hold one lead: nobody else can hold or buy it until the hold ends. Holding a lead
    you already hold answers the same hold (its token and expiry)."""
    (o,) = await _hold(request, caller, settings, [body.lead_id])
    if o.result == "held":
        return HoldPublic(lead_id=o.lead_id, token=o.token, expires_ms=o.expires_ms,
                          price_usd=cents_usd(o.cents))
    item = ItemResult.of(o.lead_id, o.result, o.limit)
    if o.result == "not_found":
        raise ApiError(404, "not_found", item.detail)
    if o.limit in ("leads_per_day", "daily_spend"):
        retry = seconds_to_midnight(now_ms())
        raise ApiError(429, o.limit, LIMIT_SENTENCES[o.limit],
                       headers={"Retry-After": str(retry)})
    raise ApiError(409, o.limit or o.result, item.detail)


@router.put("/holds/{lead_id}", status_code=status.HTTP_201_CREATED, response_model=HoldPublic,
            responses=error_responses(404, 409, *_ERRORS))
async def put_hold(request: Request, lead_id: Annotated[LeadId, Path()], caller: CartCaller,
                   settings: SettingsDep) -> HoldPublic:
    """The same as `POST /v1/holds` with the lead in the path: hold it (idempotent)."""
    return await hold(request, OneLead(lead_id=lead_id), caller, settings)


@router.post("/holds/bulk", response_model=BulkResults,
             responses=error_responses(*_ERRORS))
async def hold_many(request: Request, body: ManyLeads, caller: CartCaller,
                    settings: SettingsDep) -> BulkResults:
    """Hold up to 500 leads in one atomic step; a result per lead (`held`, `taken`,
    `sold`, `over_limit`, `not_found`), in the order asked."""
    outcomes = await _hold(request, caller, settings, unique(body.lead_ids, settings))
    return BulkResults.of([ItemResult.of_hold(o) for o in outcomes])


@router.get("/holds", response_model=list[HoldPublic], responses=error_responses(*_ERRORS))
async def list_holds(request: Request, caller: CartCaller) -> list[HoldPublic]:
    """Your holds that have not run out, soonest to end first."""
    return [HoldPublic.of(h) for h in await market(request).holds(buyer_of(caller), now_ms())]


@router.post("/holds/{lead_id}/extend", response_model=HoldPublic,
             responses=error_responses(404, 409, *_ERRORS))
async def extend(request: Request, lead_id: Annotated[LeadId, Path()], caller: CartCaller,
                 settings: SettingsDep) -> HoldPublic:
    """Restart the hold's time from now, up to `AIQ_HOLD_MAX_SECONDS` from when it began."""
    buyer = buyer_of(caller)
    tier = caller.buyer.tier if caller.buyer is not None else "standard"
    ttl = hold_ttl_s(tier, settings.hold_seconds, settings.hold_seconds_premium)
    o = await market(request).extend(buyer, lead_id, now_ms(), int(ttl * 1000),
                                     int(settings.hold_max_seconds * 1000))
    if o.result == "not_held":
        raise ApiError(404, "not_held", "You do not hold this lead (never held, released or "
                       "expired).")
    if o.result == "at_max":
        raise ApiError(409, "hold_at_max", f"This hold cannot last longer: at most "
                       f"{settings.hold_max_seconds:g} s from when it began.")
    return HoldPublic(lead_id=o.lead_id, token=o.token, expires_ms=o.expires_ms)


@router.delete("/holds/{lead_id}", response_model=ItemResult,
               responses=error_responses(404, *_ERRORS))
async def release(request: Request, lead_id: Annotated[LeadId, Path()],
                  caller: CartCaller) -> ItemResult:
    """Release a hold: the lead is back on the market at once."""
    ((_, result),) = await market(request).release(buyer_of(caller), [lead_id], now_ms())
    if result != "released":
        raise ApiError(404, "not_held", "You do not hold this lead (never held, released or "
                       "expired).")
    return ItemResult.of(lead_id, result)


@router.post("/holds/release", response_model=BulkResults,
             responses=error_responses(*_ERRORS))
async def release_many(request: Request, body: ManyLeads, caller: CartCaller,
                       settings: SettingsDep) -> BulkResults:
    """Release up to 500 holds in one atomic step (`released` or `not_held` each)."""
    rows = await market(request).release(buyer_of(caller), unique(body.lead_ids, settings),
                                         now_ms())
    return BulkResults.of([ItemResult.of(lead, result) for lead, result in rows])


# The cart: a list of leads to decide on. Nothing is reserved until held.

@router.get("/cart", response_model=CartPublic, responses=error_responses(*_ERRORS))
async def get_cart(request: Request, caller: CartCaller, settings: SettingsDep) -> CartPublic:
    buyer = buyer_of(caller)
    store = market(request)
    view: MarketView = request.app.state.market_view
    now = now_ms()
    items = await store.cart(buyer)
    ids = [lead for lead, _ in items]
    cards = await view.cards(ids)
    unavailable = await view.unavailable(ids, buyer)
    holds = await store.holds(buyer, now)
    out = []
    for (lead, added), card in zip(items, cards, strict=True):
        public = None if card is None else LeadPublic.of(
            card, decayed(card.score, card.created_ms, now, settings.score_half_life_hours), now)
        out.append(CartItemPublic(lead_id=lead, added_ms=added, lead=public,
                                  available=card is not None and lead not in unavailable))
    return CartPublic(items=out, holds=[HoldPublic.of(h) for h in holds],
                      held_total_usd=cents_usd(sum(h.cents for h in holds)),
                      credit_usd=cents_usd(await store.credit(buyer)))


async def _cart(request: Request, caller: Caller, settings: Settings, op: str,
                lead_ids: list[str]) -> list[ItemResult]:
    rows = await market(request).cart_change(op, buyer_of(caller), lead_ids, now_ms(),
                                             settings.cart_max_items)
    return [ItemResult.of(lead, result) for lead, result in rows]


@router.post("/cart/items", status_code=status.HTTP_201_CREATED, response_model=ItemResult,
             responses=error_responses(404, 409, *_ERRORS))
async def add_item(request: Request, body: OneLead, caller: CartCaller,
                   settings: SettingsDep) -> ItemResult:
    (item,) = await _cart(request, caller, settings, "add", [body.lead_id])
    if item.result == "not_found":
        raise ApiError(404, "not_found", item.detail)
    if item.result == "sold":
        raise ApiError(409, "sold", item.detail)
    if item.result == "over_limit":
        raise ApiError(409, "cart_full", f"A cart holds at most {settings.cart_max_items} "
                       "leads.")
    return item


@router.post("/cart/items/bulk", response_model=BulkResults,
             responses=error_responses(*_ERRORS))
async def add_items(request: Request, body: ManyLeads, caller: CartCaller,
                    settings: SettingsDep) -> BulkResults:
    return BulkResults.of(await _cart(request, caller, settings, "add",
                                      unique(body.lead_ids, settings)))


@router.delete("/cart/items/{lead_id}", response_model=ItemResult,
               responses=error_responses(404, *_ERRORS))
async def remove_item(request: Request, lead_id: Annotated[LeadId, Path()],
                      caller: CartCaller, settings: SettingsDep) -> ItemResult:
    (item,) = await _cart(request, caller, settings, "remove", [lead_id])
    if item.result != "removed":
        raise ApiError(404, "not_in_cart", "This lead is not in your cart.")
    return item
