"""Shared parts of the transaction tests: many buyers, leads on the market, keys per buyer,
Stripe events signed with the `stripe` library's own scheme, and reading Redis state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec
import redis.asyncio as aioredis

from infra.demo.stripe_events import payment_event, signature
from infra.settings import Settings
from schemas.market import Buyer, BuyerLimits
from tests.integration.marketplace import AUSTIN, AUSTIN_R7, buyers, market_settings, new_key

WEBHOOK_SECRET = "whsec_" + "t3st" * 8


def many_buyers(n: int = 50) -> list[Buyer]:
    import h3.api.basic_int as h3

    around = sorted(h3.grid_disk(AUSTIN_R7, 3))
    return [*buyers(), *(
        Buyer(buyer_id=f"b-{i:02d}", brokerage_id=f"brk-{i % 7}", cells_r7=around,
              home_lat=AUSTIN[0], home_lon=AUSTIN[1], intents=["buy", "sell", "rent"],
              tier="premium" if i % 5 == 0 else "standard")
        for i in range(n))]


def trade_settings(tmp_path: Path, *, limits: dict[str, BuyerLimits] | None = None,
                   **overrides: object) -> Settings:
    people = [msgspec.structs.replace(b, limits=(limits or {}).get(b.buyer_id, b.limits))
              for b in many_buyers()]
    buyers_file = tmp_path / "buyers-trade.json"
    buyers_file.write_bytes(msgspec.json.encode(people))
    values: dict[str, Any] = {"buyers_file": buyers_file,
                              "stripe_webhook_secret": WEBHOOK_SECRET}
    values.update(overrides)
    return market_settings(tmp_path, **values)


async def keys_for(settings: Settings, buyer_ids: list[str]) -> dict[str, str]:
    return {b: await new_key(settings, b) for b in buyer_ids}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stripe_event(kind: str, intent_id: str, *, event_id: str | None = None,
                 **intent: object) -> bytes:
    return payment_event(kind, intent_id, event_id=event_id, **intent)


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None
           ) -> dict[str, str]:
    return {"Stripe-Signature": signature(payload, secret, at),
            "Content-Type": "application/json"}


async def deliver(client: httpx.AsyncClient, payload: bytes, **sign: Any) -> httpx.Response:
    return await client.post("/v1/webhooks/stripe", content=payload, headers=signed(payload,
                                                                                    **sign))


async def redis_get(settings: Settings, name: str) -> bytes | None:
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        return await client.get(f"{settings.topic_prefix}{name}")
    finally:
        await client.aclose()
