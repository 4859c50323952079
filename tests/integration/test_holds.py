"""Carts and holds against a real Redis: one holder per lead under races (in one process and
across two API processes), fencing tokens, expiry back into the feed, bulk calls equal to
the single ones, limits (own, default, operator's), and one buyer never touching another's."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from infra.marketplace.keys import TradeKeys
from infra.marketplace.store import Marketplace
from schemas.market import BuyerLimits
from streams.trade.limits import Limits
from tests.integration.harness import free_port
from tests.integration.marketplace import (
    api_client,
    api_process,
    drop_keys,
    new_key,
    place,
    scored,
)
from tests.integration.trade import auth, keys_for, redis_get, trade_settings

NO_LIMITS = Limits(0, 0, 0)


@pytest.fixture
async def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = trade_settings(tmp_path)
    await place(settings, [scored(i) for i in range(60)])
    yield settings
    await drop_keys(settings)


async def test_one_hold_per_lead_with_fencing_tokens_extend_and_release(world) -> None:
    settings = world
    keys = await keys_for(settings, ["b-std", "b-pro"])
    async with api_client(settings) as api:
        first = await api.post("/v1/holds", json={"lead_id": "lead-00001"},
                               headers=auth(keys["b-std"]))
        assert first.status_code == 201, first.text
        token = first.json()["token"]
        again = await api.post("/v1/holds", json={"lead_id": "lead-00001"},
                               headers=auth(keys["b-std"]))
        assert again.status_code == 201 and again.json()["token"] == token
        card = msgspec.json.decode(await redis_get(settings, "lead:lead-00001") or b"{}")
        assert first.json()["price_usd"] == again.json()["price_usd"] == card["lead_price"]
        other = await api.post("/v1/holds", json={"lead_id": "lead-00001"},
                               headers=auth(keys["b-pro"]))
        assert other.status_code == 409 and other.json()["code"] == "taken"
        assert "another buyer" in other.json()["detail"].lower()

        # The holder still sees it; nobody else is offered it.
        value = await redis_get(settings, "hold:lead-00001")
        assert value is not None and value.decode().startswith(f"b-std|{token}|")

        extended = await api.post("/v1/holds/lead-00001/extend", headers=auth(keys["b-std"]))
        assert extended.status_code == 200
        assert extended.json()["expires_ms"] >= first.json()["expires_ms"]
        not_mine = await api.post("/v1/holds/lead-00001/extend", headers=auth(keys["b-pro"]))
        assert not_mine.status_code == 404
        not_mine = await api.delete("/v1/holds/lead-00001", headers=auth(keys["b-pro"]))
        assert not_mine.status_code == 404 and await redis_get(settings, "hold:lead-00001")

        listed = await api.get("/v1/holds", headers=auth(keys["b-std"]))
        assert [h["lead_id"] for h in listed.json()] == ["lead-00001"]
        released = await api.delete("/v1/holds/lead-00001", headers=auth(keys["b-std"]))
        assert released.status_code == 200 and released.json()["result"] == "released"
        now_other = await api.post("/v1/holds", json={"lead_id": "lead-00001"},
                                   headers=auth(keys["b-pro"]))
        assert now_other.status_code == 201 and now_other.json()["token"] > token

    # The feed said: held (by b-std), back (released), held (by b-pro).
    client = aioredis.Redis.from_url(settings.redis_url)
    entries = [(f[b"kind"], f.get(b"reason"), f.get(b"by")) for _, f in
               await client.xrange(f"{settings.topic_prefix}feed:all")
               if f[b"lead_id"] == b"lead-00001"]
    await client.aclose()
    assert entries[-3:] == [(b"removed", b"held", b"b-std"), (b"lead", b"released", None),
                            (b"removed", b"held", b"b-pro")]


async def test_hold_extension_stops_at_the_maximum(tmp_path: Path) -> None:
    settings = trade_settings(tmp_path, hold_seconds=2.0, hold_max_seconds=3.0)
    await place(settings, [scored(1)])
    key = await new_key(settings, "b-std")
    try:
        async with api_client(settings) as api:
            held = (await api.post("/v1/holds", json={"lead_id": "lead-00001"},
                                   headers=auth(key))).json()
            await asyncio.sleep(1.2)
            longer = await api.post("/v1/holds/lead-00001/extend", headers=auth(key))
            assert longer.status_code == 200
            assert longer.json()["expires_ms"] <= held["expires_ms"] - 2000 + 3000
            at_max = await api.post("/v1/holds/lead-00001/extend", headers=auth(key))
            assert at_max.status_code == 409 and at_max.json()["code"] == "hold_at_max"
    finally:
        await drop_keys(settings)


async def test_an_expired_hold_frees_the_lead_back_into_the_feed_and_cannot_be_bought(
        tmp_path: Path) -> None:
    settings = trade_settings(tmp_path, hold_seconds=1.0, hold_seconds_premium=1.0)
    await place(settings, [scored(i) for i in range(3)])
    keys = await keys_for(settings, ["b-std", "b-pro"])
    try:
        async with api_client(settings) as api:
            held = await api.post("/v1/holds", json={"lead_id": "lead-00002"},
                                  headers=auth(keys["b-std"]))
            assert held.status_code == 201
            client = aioredis.Redis.from_url(settings.redis_url)

            async def reasons() -> list[bytes | None]:
                return [f.get(b"reason") for _, f in
                        await client.xrange(f"{settings.topic_prefix}feed:all")
                        if f[b"lead_id"] == b"lead-00002"]

            for _ in range(100):  # the hold runs out; the API's sweeper puts it back
                if b"expired" in await reasons():
                    break
                await asyncio.sleep(0.1)
            assert b"expired" in await reasons()
            await client.aclose()
            late = await api.post("/v1/checkout", json={"lead_ids": ["lead-00002"]},
                                  headers={**auth(keys["b-std"]),
                                           "Idempotency-Key": "expired-hold-1"})
            assert late.status_code == 409 and late.json()["code"] == "not_held"
            taken = await api.post("/v1/holds", json={"lead_id": "lead-00002"},
                                   headers=auth(keys["b-pro"]))
            assert taken.status_code == 201
            assert taken.json()["token"] > held.json()["token"]
    finally:
        await drop_keys(settings)


async def test_a_hold_due_by_the_callers_clock_expires_though_redis_still_keeps_its_key(
        tmp_path: Path) -> None:
    """The sweep decides by the API's clock: a hold due by it goes back to the feed even
    while Redis keeps the key (Redis drops it only once its own clock is past the PXAT;
    in that millisecond the sweep used to remove the hold's entry and lose the lead)."""
    settings = trade_settings(tmp_path)
    await place(settings, [scored(i) for i in range(3)])
    client = aioredis.Redis.from_url(settings.redis_url)
    keys = TradeKeys(settings.topic_prefix)
    store = Marketplace(client, keys)
    now = int(time.time() * 1000)
    try:
        [held] = await store.hold("b-std", ["lead-00001"], now, 60_000, NO_LIMITS)
        assert held.result == "held"
        assert await store.expire_due(held.expires_ms - 1) == 0  # not yet due
        assert await store.expire_due(held.expires_ms) == 1  # due; Redis still has the key
        assert await client.get(keys.hold("lead-00001")) is None
        assert await client.hlen(keys.holding("b-std")) == 0
        reasons = [f.get(b"reason") for _, f in await client.xrange(keys.all_feed())
                   if f[b"lead_id"] == b"lead-00001"]
        assert reasons[-1] == b"expired"
        [taken] = await store.hold("b-pro", ["lead-00001"], now + 1, 60_000, NO_LIMITS)
        assert taken.result == "held" and taken.token > held.token
        assert await store.expire_due(held.expires_ms) == 0  # idempotent: nothing left due
    finally:
        await client.aclose()
        await drop_keys(settings)


async def test_duplicates_quarantined_and_unknown_leads_cannot_be_held(tmp_path: Path) -> None:
    settings = trade_settings(tmp_path)
    await place(settings, [scored(1, duplicate_of="lead-00009"), scored(2, quarantined=True),
                           scored(3)])
    key = await new_key(settings, "b-std")
    try:
        async with api_client(settings) as api:
            bulk = await api.post("/v1/holds/bulk", headers=auth(key), json={
                "lead_ids": ["lead-00001", "lead-00002", "nope", "lead-00003"]})
            assert [r["result"] for r in bulk.json()["results"]] == [
                "not_found", "not_found", "not_found", "held"]
            single = await api.post("/v1/holds", json={"lead_id": "lead-00002"},
                                    headers=auth(key))
            assert single.status_code == 404 and single.json()["code"] == "not_found"
    finally:
        await drop_keys(settings)


async def _prepare_bulk_world(settings, sold_by_order: list[str]) -> Marketplace:  # type: ignore[no-untyped-def]
    await place(settings, [scored(i) for i in range(450)])
    client = aioredis.Redis.from_url(settings.redis_url)
    store = Marketplace(client, TradeKeys(settings.topic_prefix))
    now = int(time.time() * 1000)
    taken = await store.hold("b-pro", [f"lead-{i:05d}" for i in range(100, 200)], now, 600_000,
                             NO_LIMITS)
    assert {t.result for t in taken} == {"held"}
    for lead in sold_by_order:
        await client.set(f"{settings.topic_prefix}sold:{lead}", "ord_x")
    return store


async def test_bulk_hold_of_500_answers_per_lead_and_equals_the_single_calls(
        tmp_path: Path) -> None:
    asked = ([f"lead-{i:05d}" for i in range(0, 100)]  # free
             + [f"lead-{i:05d}" for i in range(100, 200)]  # held by b-pro
             + [f"lead-{i:05d}" for i in range(200, 300)]  # sold
             + [f"lead-{i:05d}" for i in range(300, 400)]  # free
             + [f"nope-{i}" for i in range(100)])  # unknown
    sold = [f"lead-{i:05d}" for i in range(200, 300)]
    expected = ["held"] * 100 + ["taken"] * 100 + ["sold"] * 100 + ["held"] * 100 + [
        "not_found"] * 100
    states = []
    for run, mode in enumerate(("bulk", "single")):
        (tmp_path / mode).mkdir(exist_ok=True)
        settings = trade_settings(tmp_path / mode, limits={
            "b-std": BuyerLimits(concurrent_holds=1000, leads_per_day=1000)})
        store = await _prepare_bulk_world(settings, sold)
        key = await new_key(settings, "b-std")
        try:
            async with api_client(settings) as api:
                if mode == "bulk":
                    answer = await api.post("/v1/holds/bulk", json={"lead_ids": asked},
                                            headers=auth(key))
                    assert answer.status_code == 200, answer.text
                    results = [r["result"] for r in answer.json()["results"]]
                    assert answer.json()["counts"] == {"held": 200, "taken": 100, "sold": 100,
                                                       "not_found": 100}
                else:
                    results = []
                    for lead in asked:
                        one = await api.post("/v1/holds", json={"lead_id": lead},
                                             headers=auth(key))
                        results.append("held" if one.status_code == 201 else one.json()["code"])
            assert results == expected, run
            holds = await store.holds("b-std", int(time.time() * 1000))
            client = store.client
            holders = await client.mget([f"{settings.topic_prefix}hold:{lead}" for lead in asked])
            states.append(([h.lead_id for h in sorted(holds)],
                           [None if v is None else v.decode().split("|")[0] for v in holders]))
        finally:
            await store.client.aclose()
            await drop_keys(settings)
    assert states[0] == states[1]


async def test_limits_own_default_and_set_by_an_operator(tmp_path: Path) -> None:
    settings = trade_settings(tmp_path, limit_leads_per_day=4, limits={
        "b-std": BuyerLimits(concurrent_holds=2)})
    await place(settings, [scored(i) for i in range(10)])
    keys = await keys_for(settings, ["b-std", "b-pro"])
    admin = await new_key(settings, "", ["admin"])
    try:
        async with api_client(settings) as api:
            for i in range(2):
                ok = await api.post("/v1/holds", json={"lead_id": f"lead-{i:05d}"},
                                    headers=auth(keys["b-std"]))
                assert ok.status_code == 201
            over = await api.post("/v1/holds", json={"lead_id": "lead-00002"},
                                  headers=auth(keys["b-std"]))
            assert over.status_code == 409 and over.json()["code"] == "concurrent_holds"
            assert "limit" in over.json()["detail"]
            # The default leads-per-day limit (4) applies to the buyer without own limits.
            bulk = await api.post("/v1/holds/bulk", headers=auth(keys["b-pro"]), json={
                "lead_ids": [f"lead-{i:05d}" for i in range(3, 9)]})
            assert [r["result"] for r in bulk.json()["results"]] == ["held"] * 4 + [
                "over_limit"] * 2
            daily = await api.post("/v1/holds", json={"lead_id": "lead-00009"},
                                   headers=auth(keys["b-pro"]))
            assert daily.status_code == 429 and daily.json()["code"] == "leads_per_day"
            assert int(daily.headers["Retry-After"]) > 0

            # An operator raises b-std's limits and caps its spend: in force at once.
            shown = await api.get("/v1/admin/buyers/b-std/limits", headers=auth(admin))
            assert shown.json() == {"concurrent_holds": 2, "leads_per_day": 4,
                                    "daily_spend_usd": 25000.0}
            changed = await api.put("/v1/admin/buyers/b-std/limits", headers=auth(admin),
                                    json={"concurrent_holds": 10, "leads_per_day": 10,
                                          "daily_spend_usd": 1.0})
            assert changed.status_code == 200
            spend = await api.post("/v1/holds", json={"lead_id": "lead-00002"},
                                   headers=auth(keys["b-std"]))
            assert spend.status_code == 429 and spend.json()["code"] == "daily_spend"
            forbidden = await api.put("/v1/admin/buyers/b-std/limits",
                                      headers=auth(keys["b-std"]), json={
                                          "concurrent_holds": 99, "leads_per_day": 99,
                                          "daily_spend_usd": 0})
            assert forbidden.status_code == 403
    finally:
        await drop_keys(settings)


async def test_fifty_buyers_race_for_one_lead_a_thousand_times(tmp_path: Path) -> None:
    """At the store: 50 concurrent holds of one lead, 1,000 times → one winner each time."""
    settings = trade_settings(tmp_path)
    trials, racers = 1000, 50
    await place(settings, [scored(i) for i in range(trials)])
    client = aioredis.Redis.from_url(settings.redis_url, max_connections=racers)
    store = Marketplace(client, TradeKeys(settings.topic_prefix))
    buyers = [f"b-{i:02d}" for i in range(racers)]
    double_grants = 0
    try:
        now = int(time.time() * 1000)
        for t in range(trials):
            lead = f"lead-{t:05d}"
            outcomes = await asyncio.gather(*(store.hold(b, [lead], now, 600_000, NO_LIMITS)
                                              for b in buyers))
            winners = [o[0] for o in outcomes if o[0].result == "held"]
            double_grants += len(winners) > 1
            assert len(winners) == 1, (t, winners)
            assert sum(o[0].result == "taken" for o in outcomes) == racers - 1
            winner = next(b for b, o in zip(buyers, outcomes, strict=True)
                          if o[0].result == "held")
            holder = (await client.get(f"{settings.topic_prefix}hold:{lead}")).decode()
            assert holder.split("|")[:2] == [winner, str(winners[0].token)]
        print(f"\nhold race: {trials} trials x {racers} buyers, {trials} winners, "
              f"double grants {double_grants}")
    finally:
        await client.aclose()
        await drop_keys(settings)


async def test_holds_race_across_two_api_processes(tmp_path: Path) -> None:
    settings = trade_settings(tmp_path)
    other = settings.model_copy(update={"api_port": free_port()})
    trials, racers = 40, 50
    await place(settings, [scored(i) for i in range(trials)])
    buyers = [f"b-{i:02d}" for i in range(racers)]
    keys = await keys_for(settings, buyers)
    try:
        with api_process(settings, tmp_path / "api-1.log") as one, \
                api_process(other, tmp_path / "api-2.log") as two:
            async with httpx.AsyncClient(timeout=30) as http:
                for t in range(trials):
                    lead = f"lead-{t:05d}"
                    answers = await asyncio.gather(*(
                        http.post(f"{(one, two)[i % 2]}/v1/holds", json={"lead_id": lead},
                                  headers=auth(keys[b])) for i, b in enumerate(buyers)))
                    codes = sorted(a.status_code for a in answers)
                    assert codes == [201] + [409] * (racers - 1), (
                        t, codes, [a.text for a in answers if a.status_code not in (201, 409)])
                    winner = next(b for b, a in zip(buyers, answers, strict=True)
                                  if a.status_code == 201)
                    value = await redis_get(settings, f"hold:{lead}")
                    assert value is not None and value.decode().startswith(f"{winner}|")
    finally:
        await drop_keys(settings)


async def test_the_cart_and_one_buyer_never_touches_another(world) -> None:
    settings = world
    keys = await keys_for(settings, ["b-std", "b-pro"])
    admin = await new_key(settings, "", ["admin"])
    feed_only = await new_key(settings, "b-std", ["feed"])
    async with api_client(settings) as api:
        a, b = auth(keys["b-std"]), auth(keys["b-pro"])
        assert (await api.post("/v1/cart/items", json={"lead_id": "lead-00003"},
                               headers=a)).status_code == 201
        bulk = await api.post("/v1/cart/items/bulk", headers=a,
                              json={"lead_ids": ["lead-00004", "lead-00005", "nope"]})
        assert [r["result"] for r in bulk.json()["results"]] == ["added", "added", "not_found"]
        assert (await api.post("/v1/holds", json={"lead_id": "lead-00004"},
                               headers=b)).status_code == 201
        cart = (await api.get("/v1/cart", headers=a)).json()
        assert [i["lead_id"] for i in cart["items"]] == ["lead-00003", "lead-00004",
                                                         "lead-00005"]
        assert [i["available"] for i in cart["items"]] == [True, False, True]
        assert "@example.com" not in str(cart) and "+15125550134" not in str(cart)
        assert (await api.get("/v1/cart", headers=b)).json()["items"] == []
        assert (await api.delete("/v1/cart/items/lead-00003", headers=b)).status_code == 404
        assert (await api.delete("/v1/holds/lead-00004", headers=a)).status_code == 404
        released = await api.post("/v1/holds/release", headers=a,
                                  json={"lead_ids": ["lead-00004"]})
        assert released.json()["results"][0]["result"] == "not_held"
        assert (await api.delete("/v1/cart/items/lead-00003", headers=a)).status_code == 200
        # Wrong kinds of keys.
        assert (await api.get("/v1/cart", headers=auth(admin))).status_code == 403
        assert (await api.get("/v1/cart", headers=auth(feed_only))).status_code == 403
        assert (await api.get("/v1/cart")).status_code == 401
        # Mass assignment: a client cannot set who holds or what it costs.
        sneaky = await api.post("/v1/holds", headers=a, json={
            "lead_id": "lead-00006", "buyer_id": "b-pro", "price": 0.01})
        assert sneaky.status_code == 422 and sneaky.json()["code"] == "invalid_request"


async def test_a_buyers_hold_totals_stay_in_step_with_the_holds(tmp_path: Path) -> None:
    """The limit check reads running totals, not the holds: after holds, extensions,
    releases, expiries, a checkout and a sale, the totals equal what is held."""
    import random

    settings = trade_settings(tmp_path)
    await place(settings, [scored(i) for i in range(80)])
    client = aioredis.Redis.from_url(settings.redis_url)
    keys = TradeKeys(settings.topic_prefix)
    store = Marketplace(client, keys)
    rng = random.Random(5)
    now = int(time.time() * 1000)
    try:
        for step in range(300):
            now += rng.randint(0, 400)
            lead = f"lead-{rng.randrange(80):05d}"
            op = rng.random()
            if op < 0.5:
                await store.hold("b-std", [lead], now, rng.choice([500, 2_000, 60_000]),
                                 NO_LIMITS)
            elif op < 0.7:
                await store.release("b-std", [lead], now)
            elif op < 0.85:
                await store.extend("b-std", lead, now, 5_000, 20_000)
            elif op < 0.95:
                await store.expire_due(now)
            else:
                held = [h.lead_id for h in await store.holds("b-std", now)][:3]
                if held:
                    await store.checkout("b-std", f"co_{step}", held, now, now + 5_000)
                    await store.sell(f"evt_{step}", f"co_{step}", "", now)
            entries = await client.hgetall(keys.holding("b-std"))
            cents = sum(int(v.split(b"|")[2]) for v in entries.values())
            assert int(await client.get(keys.holding("b-std") + "|cents") or 0) == cents, step
            assert await client.zcard(keys.holding("b-std") + "|exp") == len(entries), step
    finally:
        await client.aclose()
        await drop_keys(settings)
