"""The marketplace's transactions, each one atomic Redis script (`lua/`), so that two API
processes, a crash between two writes or a retried request can never hold a lead twice,
sell it twice, or change state without its audit event (every script writes the change
and its outbox entry together).

Contract: `Marketplace(client, keys)` does no I/O; scripts load on first use and reload
when Redis lost them (a restart). Times are passed in (`now_ms`), never read here, so
tests can move the clock. A Redis error propagates: the API answers 503, never a grant.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from typing import Any, NamedTuple

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from infra.marketplace.keys import TradeKeys
from streams.serve.ranking import LeadCard, LeadContact
from streams.trade.holds import utc_day
from streams.trade.limits import Limits

_SCRIPTS = ("hold", "release", "extend", "expire", "checkout", "sell", "settle", "return",
            "refunded", "cart")
EVENT_MARKER_TTL_S = 30 * 86_400  # Stripe retries a webhook for up to 3 days
IDEMPOTENCY_TTL_S = 86_400  # as Stripe keeps its idempotency keys


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class HoldOutcome(NamedTuple):
    lead_id: str
    result: str  # held, taken, sold, over_limit, not_found (extend: also not_held, at_max)
    token: int = 0
    expires_ms: int = 0
    limit: str = ""  # on over_limit: which one
    cents: int = 0  # on held: the lead's price


class HoldView(NamedTuple):
    lead_id: str
    token: int
    expires_ms: int
    cents: int
    started_ms: int


class CheckoutItem(msgspec.Struct, frozen=True):
    lead_id: str
    token: int
    cents: int


class Reserved(NamedTuple):
    items: list[CheckoutItem]
    total_cents: int
    credit_cents: int

    @property
    def amount_cents(self) -> int:
        return self.total_cents - self.credit_cents


class Refused(NamedTuple):
    leads: list[tuple[str, str]]  # (lead_id, "sold" | "not_held")


class SoldLead(msgspec.Struct, frozen=True):
    lead_id: str
    cents: int
    contact: LeadContact | None
    card: LeadCard | None


class LeadReturn(msgspec.Struct, frozen=True):
    reason: str
    returned_ms: int
    cents: int
    to: str  # card or credit
    status: str  # credited, refund_pending, refunded
    refund_id: str = ""


class Order(msgspec.Struct, frozen=True):
    order_id: str
    buyer_id: str
    checkout_id: str
    payment_intent: str
    created_ms: int
    total_cents: int
    credit_cents: int
    amount_cents: int
    leads: list[SoldLead]
    undelivered: list[CheckoutItem]
    returns: dict[str, LeadReturn]
    card_refunded_cents: int = 0


def _order(raw: bytes | str) -> Order:
    # cjson writes an empty list as {}; contact and card are JSON kept as written.
    data = msgspec.json.decode(raw)
    for name in ("leads", "undelivered"):
        if data.get(name) == {}:
            data[name] = []
    if data.get("returns") == []:
        data["returns"] = {}
    for lead in data["leads"]:
        lead["contact"] = msgspec.json.decode(lead["contact"]) if lead.get("contact") else None
        lead["card"] = msgspec.json.decode(lead["card"]) if lead.get("card") else None
    return msgspec.convert(data, Order)


class Sale(NamedTuple):
    result: str  # sold, already, duplicate, unknown
    order: Order | None = None
    order_id: str = ""


class IdempotencyRecord(NamedTuple):
    state: str  # pending or done
    fingerprint: str
    status: int = 0
    body: bytes = b""


class Marketplace:
    def __init__(self, client: aioredis.Redis, keys: TradeKeys, *, feed_maxlen: int = 100_000,
                 gone_ttl_s: int = 72 * 3600) -> None:
        self.client = client
        self.keys = keys
        self.feed_maxlen = feed_maxlen
        self.gone_ttl_s = gone_ttl_s
        lib = files("infra.marketplace").joinpath("lua/lib.lua").read_text()
        self._source = {name: lib + files("infra.marketplace").joinpath(
            f"lua/{name}.lua").read_text() for name in _SCRIPTS}
        self._sha: dict[str, str] = {}

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        sha = self._sha.get(name)
        if sha is None:
            sha = self._sha[name] = await self.client.script_load(self._source[name])
        try:
            return await self.client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            self._sha[name] = await self.client.script_load(self._source[name])
            return await self.client.evalsha(self._sha[name], len(keys), *keys, *args)

    # Holds

    async def hold(self, buyer_id: str, lead_ids: Sequence[str], now_ms: int, ttl_ms: int,
                   limits: Limits) -> list[HoldOutcome]:
        k = self.keys
        keys = [k.holding(buyer_id), k.hold_expiry(), k.hold_seq(),
                k.day(buyer_id, utc_day(now_ms)), k.limits(buyer_id), k.all_feed(), k.outbox()]
        for lead in lead_ids:
            keys += [k.hold(lead), k.card(lead), k.gone(lead), k.sold(lead)]
        rows = await self._run("hold", keys, [
            buyer_id, now_ms, ttl_ms, limits.concurrent_holds, limits.leads_per_day,
            limits.daily_spend_cents, self.feed_maxlen, len(lead_ids), *lead_ids])
        return [HoldOutcome(lead, _text(r[0]), int(r[1]), int(r[2]), _text(r[3]), int(r[4]))
                for lead, r in zip(lead_ids, rows, strict=True)]

    async def release(self, buyer_id: str, lead_ids: Sequence[str], now_ms: int
                      ) -> list[tuple[str, str]]:
        k = self.keys
        keys = [k.holding(buyer_id), k.hold_expiry(), k.all_feed(), k.outbox()]
        for lead in lead_ids:
            keys += [k.hold(lead), k.card(lead), k.gone(lead)]
        rows = await self._run("release", keys, [buyer_id, now_ms, self.feed_maxlen,
                                                 len(lead_ids), *lead_ids])
        return [(lead, _text(r)) for lead, r in zip(lead_ids, rows, strict=True)]

    async def extend(self, buyer_id: str, lead_id: str, now_ms: int, ttl_ms: int,
                     max_ms: int) -> HoldOutcome:
        k = self.keys
        r = await self._run("extend", [k.hold(lead_id), k.holding(buyer_id), k.hold_expiry(),
                                       k.outbox()], [buyer_id, lead_id, now_ms, ttl_ms, max_ms])
        return HoldOutcome(lead_id, _text(r[0]), int(r[1]), int(r[2]))

    async def holds(self, buyer_id: str, now_ms: int) -> list[HoldView]:
        """The buyer's holds that have not run out, soonest to expire first."""
        entries = await self.client.hgetall(self.keys.holding(buyer_id))
        views = []
        for lead, value in entries.items():
            token, expires, cents, started = (int(p) for p in value.split(b"|"))
            if expires > now_ms:
                views.append(HoldView(lead.decode(), token, expires, cents, started))
        return sorted(views, key=lambda v: v.expires_ms)

    async def expire_due(self, now_ms: int, limit: int = 500) -> int:
        """Put leads whose holds ran out back in the feed; how many were due."""
        k = self.keys
        return int(await self._run("expire", [k.hold_expiry(), k.all_feed(), k.outbox()],
                                   [now_ms, self.feed_maxlen, limit, k.prefix]))

    # Carts

    async def cart_change(self, op: str, buyer_id: str, lead_ids: Sequence[str], now_ms: int,
                          max_items: int) -> list[tuple[str, str]]:
        k = self.keys
        keys = [k.cart(buyer_id), k.outbox()]
        for lead in lead_ids:
            keys += [k.card(lead), k.gone(lead)]
        rows = await self._run("cart", keys, [op, buyer_id, now_ms, max_items, len(lead_ids),
                                              *lead_ids])
        return [(lead, _text(r)) for lead, r in zip(lead_ids, rows, strict=True)]

    async def cart(self, buyer_id: str) -> list[tuple[str, int]]:
        members = await self.client.zrange(self.keys.cart(buyer_id), 0, -1, withscores=True)
        return [(m.decode(), int(score)) for m, score in members]

    async def credit(self, buyer_id: str) -> int:
        return int(await self.client.get(self.keys.credit(buyer_id)) or 0)

    # Checkout and payment

    async def checkout(self, buyer_id: str, checkout_id: str, lead_ids: Sequence[str],
                       now_ms: int, lock_until_ms: int) -> Reserved | Refused:
        k = self.keys
        keys = [k.holding(buyer_id), k.hold_expiry(), k.credit(buyer_id),
                k.checkout(checkout_id), k.outbox()]
        for lead in lead_ids:
            keys += [k.hold(lead), k.gone(lead), k.sold(lead)]
        r = await self._run("checkout", keys, [buyer_id, checkout_id, now_ms, lock_until_ms,
                                               len(lead_ids), *lead_ids])
        if _text(r[0]) == "refused":
            return Refused([(x["lead_id"], x["result"]) for x in msgspec.json.decode(r[1])])
        items = msgspec.json.decode(r[1], type=list[CheckoutItem])
        return Reserved(items, int(r[2]), int(r[3]))

    async def attach_payment(self, checkout_id: str, intent_id: str) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.checkout(checkout_id), "payment_intent", intent_id)
            pipe.set(self.keys.payment(intent_id), checkout_id)
            await pipe.execute()

    async def abandon_checkout(self, checkout_id: str, now_ms: int) -> None:
        """The payment could not be created: give the credit back, as a cancel would."""
        await self.settle(f"abandon:{checkout_id}", checkout_id, "canceled", "", now_ms,
                          "payment not created")

    async def checkout_record(self, checkout_id: str) -> dict[str, str]:
        raw = await self.client.hgetall(self.keys.checkout(checkout_id))
        return {a.decode(): b.decode() for a, b in raw.items()}

    async def checkout_of_payment(self, intent_id: str) -> str | None:
        value = await self.client.get(self.keys.payment(intent_id))
        return None if value is None else value.decode()

    async def sell(self, event_id: str, checkout_id: str, intent_id: str, now_ms: int
                   ) -> Sale:
        record = await self.checkout_record(checkout_id)
        if not record:
            return Sale("unknown")
        buyer = record["buyer_id"]
        items = msgspec.json.decode(record["items"], type=list[CheckoutItem])
        order_id = "ord_" + checkout_id.removeprefix("co_")
        k = self.keys
        keys = [k.stripe_event(event_id), k.checkout(checkout_id), k.orders(buyer), k.outbox(),
                k.credit(buyer), k.day(buyer, utc_day(now_ms)), k.holding(buyer),
                k.hold_expiry(), k.order(order_id)]
        for item in items:
            lead = item.lead_id
            keys += [k.hold(lead), k.gone(lead), k.sold(lead), k.contact(lead), k.card(lead)]
        r = await self._run("sell", keys, [now_ms, order_id, self.gone_ttl_s, EVENT_MARKER_TTL_S,
                                           intent_id, checkout_id, len(items),
                                           *(i.lead_id for i in items)])
        result = _text(r[0])
        if result == "sold":
            return Sale(result, _order(r[1]), order_id)
        return Sale(result, None, _text(r[1]) if len(r) > 1 else "")

    async def settle(self, event_id: str, checkout_id: str, status: str, intent_id: str,
                     now_ms: int, reason: str) -> str:
        """A failed or canceled payment, once per event: the new status, or why not."""
        record = await self.checkout_record(checkout_id)
        if not record:
            return "unknown"
        k = self.keys
        return _text(await self._run(
            "settle", [k.stripe_event(event_id), k.checkout(checkout_id),
                       k.credit(record["buyer_id"]), k.outbox()],
            [status, now_ms, EVENT_MARKER_TTL_S, intent_id, reason[:200]]))

    async def mark_event(self, event_id: str) -> bool:
        """Record an event applied that changes nothing; False when seen before."""
        return bool(await self.client.set(self.keys.stripe_event(event_id), 1, nx=True,
                                          ex=EVENT_MARKER_TTL_S))

    # Idempotency of checkouts

    async def claim(self, buyer_id: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        """None: the caller owns this key now. Else the record someone made first."""
        name = self.keys.idempotency(buyer_id, key)
        if await self.client.hsetnx(name, "fp", fingerprint):
            await self.client.expire(name, IDEMPOTENCY_TTL_S)
            return None
        return await self.idempotency(buyer_id, key)

    async def idempotency(self, buyer_id: str, key: str) -> IdempotencyRecord | None:
        raw = await self.client.hgetall(self.keys.idempotency(buyer_id, key))
        if not raw:
            return None
        return IdempotencyRecord(raw.get(b"state", b"pending").decode(),
                                 raw.get(b"fp", b"").decode(), int(raw.get(b"status", 0)),
                                 raw.get(b"body", b""))

    async def complete(self, buyer_id: str, key: str, status: int, body: bytes) -> None:
        await self.client.hset(self.keys.idempotency(buyer_id, key),
                               mapping={"state": "done", "status": status, "body": body})

    async def forget(self, buyer_id: str, key: str) -> None:
        """The request failed before anything was charged: the key may be used again."""
        await self.client.delete(self.keys.idempotency(buyer_id, key))

    # Orders and returns

    async def order(self, order_id: str) -> Order | None:
        raw = await self.client.get(self.keys.order(order_id))
        return None if raw is None else _order(raw)

    async def orders(self, buyer_id: str, limit: int) -> list[Order]:
        ids = await self.client.zrevrange(self.keys.orders(buyer_id), 0, limit - 1)
        if not ids:
            return []
        raws = await self.client.mget([self.keys.order(i.decode()) for i in ids])
        return [_order(r) for r in raws if r is not None]

    async def return_lead(self, buyer_id: str, order_id: str, lead_id: str, reason: str,
                          now_ms: int, window_ms: int, to: str) -> tuple[str, LeadReturn | None]:
        k = self.keys
        r = await self._run("return", [k.order(order_id), k.credit(buyer_id), k.outbox()],
                            [buyer_id, lead_id, reason, now_ms, window_ms, to])
        result = _text(r[0])
        back = msgspec.json.decode(r[1], type=LeadReturn) if len(r) > 1 else None
        return result, back

    async def refunded(self, order_id: str, lead_id: str, refund_id: str, now_ms: int) -> None:
        await self._run("refunded", [self.keys.order(order_id), self.keys.outbox()],
                        [lead_id, refund_id, now_ms])

    # Limits an operator set

    async def limit_overrides(self, buyer_id: str) -> dict[str, int]:
        raw = await self.client.hgetall(self.keys.limits(buyer_id))
        return {a.decode(): int(b) for a, b in raw.items()}

    async def set_limits(self, buyer_id: str, limits: Limits) -> None:
        """Overrides for one buyer, in every API process at once (0 = no limit)."""
        await self.client.hset(self.keys.limits(buyer_id), mapping=limits._asdict())
