"""Operator routes (admin keys only): API keys of buyers, and buyers' limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from api.auth import Caller, require
from api.deps import SettingsDep
from api.errors import ApiError, error_responses
from api.models import ApiKeyCreated, ApiKeyPublic, NewApiKey
from api.routes.cart import limits_of
from api.trade_models import LimitsPublic
from infra.keystore import BUYER_SCOPES, KeyRequestError, KeyStore
from infra.marketplace.store import Marketplace

router = APIRouter(prefix="/v1/admin", tags=["admin"])
Admin = Annotated[Caller, Depends(require("admin"))]


@router.post("/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated,
             responses=error_responses(400, 401, 403, 404, 422, 429, 503))
async def create_key(request: Request, body: NewApiKey, _: Admin) -> ApiKeyCreated:
    """A new key for a buyer (or an admin key, with no buyer and scope `admin`)."""
    if body.buyer_id and body.buyer_id not in request.app.state.buyers:
        raise ApiError(404, "unknown_buyer", f"No buyer {body.buyer_id[:64]!r}.")
    keys: KeyStore = request.app.state.keys
    try:
        secret, key = await keys.create(
            body.buyer_id, body.scopes if body.scopes is not None else BUYER_SCOPES,
            publishable=body.publishable, origins=body.origins, label=body.label)
    except KeyRequestError as exc:
        raise ApiError(422, "bad_key_request", str(exc)) from None
    return ApiKeyCreated(key=secret, **ApiKeyPublic.of(key).model_dump())


@router.get("/keys", response_model=list[ApiKeyPublic],
            responses=error_responses(401, 403, 422, 429, 503))
async def list_keys(request: Request, _: Admin,
                    buyer_id: Annotated[str | None, Query(max_length=64)] = None
                    ) -> list[ApiKeyPublic]:
    keys: KeyStore = request.app.state.keys
    return [ApiKeyPublic.of(k) for k in await keys.list(buyer_id)]


@router.delete("/keys/{key_id}", response_model=ApiKeyPublic,
               responses=error_responses(401, 403, 404, 422, 429, 503))
async def revoke_key(request: Request, _: Admin,
                     key_id: Annotated[str, Path(max_length=32)]) -> ApiKeyPublic:
    """Revoke a key at once, in every API process."""
    keys: KeyStore = request.app.state.keys
    key = await keys.revoke(key_id)
    if key is None:
        raise ApiError(404, "unknown_key", f"No key {key_id!r}.")
    return ApiKeyPublic.of(key)


@router.get("/buyers/{buyer_id}/limits", response_model=LimitsPublic,
            responses=error_responses(401, 403, 404, 422, 429, 503))
async def get_limits(request: Request, _: Admin, settings: SettingsDep,
                     buyer_id: Annotated[str, Path(max_length=64)]) -> LimitsPublic:
    """The buyer's limits in force: an operator's override, else `buyers.json`, else the
    deployment's default."""
    buyer = request.app.state.buyers.get(buyer_id)
    if buyer is None:
        raise ApiError(404, "unknown_buyer", f"No buyer {buyer_id!r}.")
    store: Marketplace = request.app.state.market
    overrides = await store.limit_overrides(buyer_id)
    base = limits_of(buyer, settings)
    return LimitsPublic.of(base._replace(**overrides))


@router.put("/buyers/{buyer_id}/limits", response_model=LimitsPublic,
            responses=error_responses(400, 401, 403, 404, 422, 429, 503))
async def set_limits(request: Request, body: LimitsPublic, _: Admin,
                     buyer_id: Annotated[str, Path(max_length=64)]) -> LimitsPublic:
    """Set a buyer's limits, in every API process at once (0 = no limit)."""
    if buyer_id not in request.app.state.buyers:
        raise ApiError(404, "unknown_buyer", f"No buyer {buyer_id!r}.")
    store: Marketplace = request.app.state.market
    await store.set_limits(buyer_id, body.limits())
    return body
