"""Checkout against stripe-mock and real Redis, webhooks signed with the `stripe` library's
scheme, orders and returns, and the audit trail landing in ClickHouse once per event."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from infra.warehouse.query import run_query
from infra.warehouse.url import ServerUrl, parse_url
from tests.integration.harness import WorkerProcess, free_port, scalar, wait_until
from tests.integration.marketplace import (
    api_client,
    api_process,
    drop_keys,
    new_key,
    place,
    scored,
)
from tests.integration.trade import (
    WEBHOOK_SECRET,
    auth,
    deliver,
    keys_for,
    redis_get,
    signed,
    stripe_event,
    trade_settings,
)


@pytest.fixture
async def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    # No broker on purpose: sales go on while Kafka is away, and the audit outbox keeps
    # every event for the relay (counted below); the landing test has a broker.
    settings = trade_settings(tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    await place(settings, [scored(i) for i in range(40)])
    yield settings
    await drop_keys(settings)


async def _hold(api: httpx.AsyncClient, key: str, leads: list[str]) -> None:
    answer = await api.post("/v1/holds/bulk", json={"lead_ids": leads}, headers=auth(key))
    assert answer.json()["counts"] == {"held": len(leads)}, answer.text


async def _checkout(api: httpx.AsyncClient, key: str, idem: str | None = None,
                    **body: Any) -> httpx.Response:
    return await api.post("/v1/checkout", json=body, headers={
        **auth(key), "Idempotency-Key": idem or uuid.uuid4().hex})


async def _lead_price(settings: Any, lead: str) -> float:
    import msgspec

    raw = await redis_get(settings, f"lead:{lead}")
    assert raw is not None
    return float(msgspec.json.decode(raw)["lead_price"])


async def test_checkout_prices_on_the_server_and_one_key_makes_one_payment(world) -> None:
    settings = world
    keys = await keys_for(settings, ["b-std", "b-pro"])
    async with api_client(settings) as api:
        await _hold(api, keys["b-std"], ["lead-00001", "lead-00002", "lead-00003"])
        no_key = await api.post("/v1/checkout", json={}, headers=auth(keys["b-std"]))
        assert no_key.status_code == 422
        priced = await _checkout(api, keys["b-std"], amount=1, price=0.5)
        assert priced.status_code == 422 and priced.json()["code"] == "invalid_request"

        # 20 concurrent requests with one key: one PaymentIntent, the same answer to all.
        answers = await asyncio.gather(*(_checkout(api, keys["b-std"], "same-key-000001")
                                         for _ in range(20)))
        assert {a.status_code for a in answers} == {201}, [a.text for a in answers][:3]
        assert len({a.json()["payment_intent"] for a in answers}) == 1
        assert len({a.json()["checkout_id"] for a in answers}) == 1
        body = answers[0].json()
        expected = sum([await _lead_price(settings, f"lead-0000{i}") for i in (1, 2, 3)])
        assert body["total_usd"] == pytest.approx(expected)
        assert body["amount_usd"] == pytest.approx(expected) and body["client_secret"]
        assert sorted(body["lead_ids"]) == ["lead-00001", "lead-00002", "lead-00003"]
        reused = await _checkout(api, keys["b-std"], "same-key-000001",
                                 lead_ids=["lead-00001"])
        assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
        # Another buyer cannot pay for leads it does not hold.
        theirs = await _checkout(api, keys["b-pro"], lead_ids=["lead-00001"])
        assert theirs.status_code == 409 and theirs.json()["code"] == "not_held"
        nothing = await _checkout(api, keys["b-pro"])
        assert nothing.status_code == 409 and nothing.json()["code"] == "nothing_held"


async def test_a_paid_lead_is_sold_once_revealed_to_its_buyer_and_leaves_the_market(
        world) -> None:
    settings = world
    keys = await keys_for(settings, ["b-std", "b-pro"])
    async with api_client(settings) as api:
        await _hold(api, keys["b-std"], ["lead-00005", "lead-00006"])
        co = (await _checkout(api, keys["b-std"])).json()
        pi = co["payment_intent"]
        before = await api.get("/v1/orders", headers=auth(keys["b-std"]))
        assert before.json() == []

        # Out of order: succeeded arrives before created.
        succeeded = stripe_event("payment_intent.succeeded", pi, status="succeeded")
        answers = await asyncio.gather(*(deliver(api, succeeded) for _ in range(20)))
        results = sorted(a.json()["result"] for a in answers)
        assert results == ["duplicate"] * 19 + ["sold"], results
        other_id = stripe_event("payment_intent.succeeded", pi, status="succeeded")
        assert (await deliver(api, other_id)).json()["result"] == "already"
        created = stripe_event("payment_intent.created", pi, status="requires_payment_method")
        assert (await deliver(api, created)).json()["result"] == "applied"
        assert (await deliver(api, created)).json()["result"] == "duplicate"
        canceled = stripe_event("payment_intent.canceled", pi, status="canceled")
        assert (await deliver(api, canceled)).json()["result"] == "paid"  # stays paid

        orders = (await api.get("/v1/orders", headers=auth(keys["b-std"]))).json()
        assert len(orders) == 1
        order = orders[0]
        assert sorted(lead["lead_id"] for lead in order["leads"]) == ["lead-00005", "lead-00006"]
        assert {lead["contact"]["email"] for lead in order["leads"]} == {
            "jane5@example.com", "jane6@example.com"}
        one = await api.get(f"/v1/orders/{order['order_id']}", headers=auth(keys["b-std"]))
        assert one.json() == order
        stranger = await api.get(f"/v1/orders/{order['order_id']}", headers=auth(keys["b-pro"]))
        assert stranger.status_code == 404 and "jane" not in stranger.text
        assert (await api.get("/v1/orders", headers=auth(keys["b-pro"]))).json() == []

        # Sold for good: nobody can hold it, it is off the rankings, the feed said so.
        again = await api.post("/v1/holds", json={"lead_id": "lead-00005"},
                               headers=auth(keys["b-pro"]))
        assert again.status_code == 409 and again.json()["code"] == "sold"
        assert await redis_get(settings, "lead:lead-00005") is None
        assert (await redis_get(settings, "sold:lead-00005")) == order["order_id"].encode()
        client = aioredis.Redis.from_url(settings.redis_url)
        sold = [f for _, f in await client.xrange(f"{settings.topic_prefix}feed:all")
                if f[b"lead_id"] == b"lead-00005" and f.get(b"reason") == b"sold"]
        outbox = [f[b"e"] for _, f in await client.xrange(f"{settings.topic_prefix}outbox")]
        await client.aclose()
        assert len(sold) == 1
        # One purchase per lead, whatever the deliveries: the audit outbox holds one `sold`
        # each (no broker here, so nothing left it).
        assert sum(b'"kind":"sold"' in e for e in outbox) == 2
        assert sum(b'"kind":"paid"' in e for e in outbox) == 1


async def test_webhooks_need_a_valid_recent_signature_and_a_known_payment(world) -> None:
    settings = world
    async with api_client(settings) as api:
        event = stripe_event("payment_intent.succeeded", "pi_unknown")
        forged = await api.post("/v1/webhooks/stripe", content=event,
                                headers=signed(event, secret="whsec_wrong"))
        assert forged.status_code == 400 and forged.json()["code"] == "bad_signature"
        stale = await api.post("/v1/webhooks/stripe", content=event,
                               headers=signed(event, at=int(time.time()) - 3600))
        assert stale.status_code == 400
        missing = await api.post("/v1/webhooks/stripe", content=event)
        assert missing.status_code == 400
        tampered = await api.post("/v1/webhooks/stripe", content=event.replace(b"pi_", b"pi_x"),
                                  headers=signed(event))
        assert tampered.status_code == 400
        unknown = await deliver(api, event)
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_payment_intent"


async def test_failed_payment_keeps_holds_cancel_returns_credit_and_credit_pays(
        world) -> None:
    settings = world
    key = await new_key(settings, "b-std")
    async with api_client(settings) as api:
        # Buy one, return it for credit.
        await _hold(api, key, ["lead-00010"])
        pi = (await _checkout(api, key)).json()["payment_intent"]
        await deliver(api, stripe_event("payment_intent.succeeded", pi))
        order = (await api.get("/v1/orders", headers=auth(key))).json()[0]
        price = order["leads"][0]["price_usd"]
        back = await api.post("/v1/returns", headers=auth(key), json={
            "order_id": order["order_id"], "lead_id": "lead-00010", "reason": "bad_contact",
            "refund_to": "credit"})
        assert back.status_code == 201 and back.json()["status"] == "credited"
        twice = await api.post("/v1/returns", headers=auth(key), json={
            "order_id": order["order_id"], "lead_id": "lead-00010", "reason": "bad_contact"})
        assert twice.status_code == 409 and twice.json()["code"] == "already_returned"
        assert (await api.get("/v1/cart", headers=auth(key))).json()["credit_usd"] == price

        # The next checkout takes the credit off; a failure keeps the holds; a cancel gives
        # the credit back.
        await _hold(api, key, ["lead-00011", "lead-00012"])
        co = (await _checkout(api, key)).json()
        assert co["credit_usd"] == pytest.approx(min(price, co["total_usd"] - 0.5))
        assert co["amount_usd"] == pytest.approx(co["total_usd"] - co["credit_usd"])
        failed = stripe_event("payment_intent.payment_failed", co["payment_intent"],
                              last_payment_error={"message": "card declined"})
        assert (await deliver(api, failed)).json()["result"] == "failed"
        held = {h["lead_id"] for h in (await api.get("/v1/holds", headers=auth(key))).json()}
        assert held == {"lead-00011", "lead-00012"}
        assert (await api.get("/v1/cart", headers=auth(key))).json()["credit_usd"] == 0
        cancel = stripe_event("payment_intent.canceled", co["payment_intent"])
        assert (await deliver(api, cancel)).json()["result"] == "canceled"
        assert (await api.get("/v1/cart", headers=auth(key))).json()["credit_usd"] == price


async def test_card_returns_refund_through_stripe_within_the_window(tmp_path: Path) -> None:
    settings = trade_settings(tmp_path, return_window_hours=0.0005)  # 1.8 s
    await place(settings, [scored(i) for i in range(3)])
    keys = await keys_for(settings, ["b-std", "b-pro"])
    try:
        async with api_client(settings) as api:
            key = keys["b-std"]
            await _hold(api, key, ["lead-00001", "lead-00002"])
            pi = (await _checkout(api, key)).json()["payment_intent"]
            await deliver(api, stripe_event("payment_intent.succeeded", pi))
            order = (await api.get("/v1/orders", headers=auth(key))).json()[0]
            ask = {"order_id": order["order_id"], "lead_id": "lead-00001", "reason": "fraud"}
            stranger = await api.post("/v1/returns", headers=auth(keys["b-pro"]), json=ask)
            assert stranger.status_code == 404
            back = await api.post("/v1/returns", headers=auth(key), json=ask)
            assert back.status_code == 201, back.text
            assert back.json()["status"] == "refunded" and back.json()["refund_id"]
            shown = (await api.get(f"/v1/orders/{order['order_id']}", headers=auth(key))).json()
            assert shown["leads"][0]["returned"]["status"] == "refunded"
            bad = await api.post("/v1/returns", headers=auth(key), json={**ask, "reason": "meh"})
            assert bad.status_code == 422
            await asyncio.sleep(2.0)
            late = await api.post("/v1/returns", headers=auth(key),
                                  json={**ask, "lead_id": "lead-00002"})
            assert late.status_code == 409 and late.json()["code"] == "return_window_passed"
    finally:
        await drop_keys(settings)


async def test_a_lead_taken_after_its_hold_ran_out_is_credited_not_sold_twice(
        tmp_path: Path) -> None:
    settings = trade_settings(tmp_path, hold_seconds=1.0, hold_seconds_premium=1.0,
                              checkout_hold_seconds=1.0)
    await place(settings, [scored(i) for i in range(3)])
    keys = await keys_for(settings, ["b-std", "b-pro"])
    try:
        async with api_client(settings) as api:
            await _hold(api, keys["b-std"], ["lead-00001", "lead-00002"])
            co = (await _checkout(api, keys["b-std"])).json()
            await asyncio.sleep(1.5)
            await _hold(api, keys["b-pro"], ["lead-00001"])  # the hold ran out; b-pro took it
            await deliver(api, stripe_event("payment_intent.succeeded", co["payment_intent"]))
            order = (await api.get("/v1/orders", headers=auth(keys["b-std"]))).json()[0]
            assert [lead["lead_id"] for lead in order["leads"]] == ["lead-00002"]
            assert order["undelivered"] == ["lead-00001"]
            credit = (await api.get("/v1/cart", headers=auth(keys["b-std"]))).json()["credit_usd"]
            assert credit == pytest.approx(await _lead_price(settings, "lead-00001"))
            value = await redis_get(settings, "hold:lead-00001")
            assert value is not None and value.decode().startswith("b-pro|")
    finally:
        await drop_keys(settings)


async def test_every_change_lands_in_cart_events_once_and_sales_teach_the_models(
        tmp_path: Path, server_url: str) -> None:
    target = parse_url(server_url)
    assert isinstance(target, ServerUrl)
    database = f"aiqleads_t{uuid.uuid4().hex[:10]}"
    settings = trade_settings(
        tmp_path, worker_web_port=free_port(), land_batch_seconds=0.2,
        clickhouse_url=f"clickhouse://{target.user}:{target.password}@{target.host}:"
                       f"{target.port}/{database}")
    await place(settings, [scored(i) for i in range(10)])
    key = await new_key(settings, "b-std")
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()  # declares the topics; lands cart.events and leads.outcomes
    try:
        async with api_client(settings) as api:
            await api.post("/v1/cart/items", json={"lead_id": "lead-00001"}, headers=auth(key))
            await _hold(api, key, ["lead-00001", "lead-00002", "lead-00003"])
            await api.delete("/v1/holds/lead-00003", headers=auth(key))
            pi = (await _checkout(api, key)).json()["payment_intent"]
            event = stripe_event("payment_intent.succeeded", pi)
            for _ in range(3):
                await deliver(api, event)
            order = (await api.get("/v1/orders", headers=auth(key))).json()[0]
            await api.post("/v1/returns", headers=auth(key), json={
                "order_id": order["order_id"], "lead_id": "lead-00001", "reason": "duplicate",
                "refund_to": "credit"})
            # cart_add, hold x3, release, checkout, sold x2, paid, return, credit
            expected = 11

            def landed() -> int:
                return scalar(settings, "SELECT count() FROM cart_events FINAL")

            # In a thread: the API's relay runs on this event loop meanwhile.
            assert await asyncio.to_thread(wait_until, lambda: landed() == expected, 90), (
                landed(), worker.log_tail())
            client = aioredis.Redis.from_url(settings.redis_url)
            outbox = f"{settings.topic_prefix}outbox"
            for _ in range(100):  # acknowledged right after Kafka acknowledged
                if not await client.xlen(outbox):
                    break
                await asyncio.sleep(0.1)
            left = await client.xrange(outbox)
            await client.aclose()
            assert left == [], left  # relayed and deleted
        kinds = run_query(settings, "SELECT kind, count() FROM cart_events FINAL GROUP BY kind "
                                    "ORDER BY kind").rows
        assert dict(kinds) == {"cart_add": 1, "checkout": 1, "credit": 1, "hold": 3, "paid": 1,
                               "release": 1, "return": 1, "sold": 2}
        assert scalar(settings, "SELECT count() FROM cart_events FINAL WHERE "
                                f"order_id = '{order['order_id']}'") == 5
        assert scalar(settings, "SELECT count() FROM cart_events FINAL WHERE buyer_id != "
                                "'b-std'") == 0

        def outcomes() -> list[tuple[str, str]]:
            return sorted(run_query(settings, "SELECT lead_id, kind FROM outcomes FINAL").rows)

        assert wait_until(lambda: len(outcomes()) == 3, 60), outcomes()
        assert outcomes() == [("lead-00001", "purchase"), ("lead-00001", "return"),
                              ("lead-00002", "purchase")]
    finally:
        worker.stop()
        await drop_keys(settings)
        run_query(settings.model_copy(update={"clickhouse_url": server_url}),
                  f"DROP DATABASE IF EXISTS {database}")


async def test_a_local_run_completes_a_purchase_with_aiqleads_stripe_pay(tmp_path: Path) -> None:
    """stripe-mock sends no webhooks: `aiqleads stripe pay` delivers the signed event."""
    import os
    import subprocess
    import sys

    settings = trade_settings(tmp_path)
    await place(settings, [scored(i) for i in range(3)])
    key = await new_key(settings, "b-std")
    try:
        with api_process(settings, tmp_path / "api.log") as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as api:
                await _hold(api, key, ["lead-00001"])
                pi = (await _checkout(api, key)).json()["payment_intent"]
                env = {**os.environ, "AIQ_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
                paid = await asyncio.to_thread(subprocess.run, [
                    sys.executable, "-m", "infra.cli", "stripe", "pay", pi, "--api", url],
                    env=env, capture_output=True, text=True, timeout=60)
                assert paid.returncode == 0 and '"result":"sold"' in paid.stdout, paid
                orders = (await api.get("/v1/orders", headers=auth(key))).json()
                assert [lead["lead_id"] for lead in orders[0]["leads"]] == ["lead-00001"]
                forged = await asyncio.to_thread(subprocess.run, [
                    sys.executable, "-m", "infra.cli", "stripe", "pay", pi, "--api", url],
                    env={**env, "AIQ_STRIPE_WEBHOOK_SECRET": "whsec_wrong"},
                    capture_output=True, text=True, timeout=60)
                assert forged.returncode == 1 and "bad_signature" in forged.stdout
    finally:
        await drop_keys(settings)
