"""Who is calling, and may they: API keys, scopes and per-key rate limits.

A key comes as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; a publishable
feed key (``pk_…``) may also come as ``?key=`` (a browser's EventSource cannot set
headers). No key, or an unknown or revoked one: 401. A key without the route's scope: 403.
Over the key's rate (by tier, `AIQ_RATE_LIMIT_*`): 429 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SettingsDep
from api.errors import ApiError
from infra.keystore import ApiKey, KeyStore
from infra.ratelimit import RateLimits
from infra.settings import Settings
from schemas.market import Buyer

bearer = HTTPBearer(auto_error=False, scheme_name="BuyerBearer",
                    description="A buyer's secret key (`sk_…`) or an admin key.")
key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="BuyerKey",
                          description="The same key, as a header.")
key_query = APIKeyQuery(name="key", auto_error=False, scheme_name="FeedKey",
                        description="A publishable feed key (`pk_…`), for websites.")


@dataclass(frozen=True, slots=True)
class Caller:
    key: ApiKey
    buyer: Buyer | None  # None for an admin key

    @property
    def buyer_id(self) -> str:
        return self.key.buyer_id


def rate_rule(settings: Settings, caller: Caller) -> str:
    if caller.key.kind == "publishable":
        return settings.rate_limit_publishable
    if caller.key.admin or (caller.buyer is not None and caller.buyer.tier == "premium"):
        return settings.rate_limit_premium
    return settings.rate_limit_standard


async def _caller(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    header_key: Annotated[str | None, Security(key_header)] = None,
    query_key: Annotated[str | None, Security(key_query)] = None,
) -> Caller:
    secret = (credentials.credentials if credentials else None) or header_key
    if secret is None and query_key is not None:
        if not query_key.startswith("pk_"):
            raise ApiError(401, "secret_key_in_url", "Only publishable feed keys (pk_…) may "
                           "be sent as ?key=; send secret keys in the Authorization header.")
        secret = query_key
    if not secret:
        raise ApiError(401, "no_key", "This route needs an API key: Authorization: Bearer "
                       "<key> or X-API-Key.", headers={"WWW-Authenticate": "Bearer"})
    keys: KeyStore = request.app.state.keys
    key = await keys.verify(secret)
    if key is None:
        raise ApiError(401, "bad_key", "The API key is unknown or revoked.",
                       headers={"WWW-Authenticate": "Bearer"})
    buyer = None
    if key.buyer_id:
        buyer = request.app.state.buyers.get(key.buyer_id)
        if buyer is None:
            raise ApiError(403, "unknown_buyer", "The key's buyer is no longer known.")
    return Caller(key, buyer)


def require(scope: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller, holding `scope`, within its rate limit."""

    async def dependency(request: Request, response: Response, settings: SettingsDep,
                         caller: Annotated[Caller, Depends(_caller)]) -> Caller:
        if not caller.key.allows(scope) and not caller.key.admin:
            raise ApiError(403, "missing_scope",
                           f"This key lacks the {scope!r} scope this route needs.")
        limits: RateLimits = request.app.state.rate_limits
        verdict = await limits.check(caller.key.key_id, rate_rule(settings, caller))
        if not verdict.allowed:
            raise ApiError(429, "rate_limited",
                           f"Over this key's limit of {verdict.limit} requests; retry in "
                           f"{verdict.retry_after_s} s.",
                           headers={"Retry-After": str(verdict.retry_after_s)})
        return caller

    return dependency


def require_admin() -> Callable[..., Awaitable[Caller]]:
    return require("admin")
