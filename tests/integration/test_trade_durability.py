"""Durability of holds and sales: a private Redis (AOF, `appendfsync always`, as `aiqleads
up` starts it) killed with SIGKILL mid-run and restarted from its append-only file forgets
no hold and no sale; while it is down, holds, checkouts and webhooks are refused with 503,
never granted."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

from infra.stack.redis import RedisService
from tests.integration.harness import free_port
from tests.integration.marketplace import api_client, new_key, place, scored
from tests.integration.trade import auth, deliver, stripe_event, trade_settings


async def test_redis_killed_and_restarted_from_aof_forgets_no_hold_and_no_sale(
        tmp_path: Path) -> None:
    settings = trade_settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0",
                              kafka_bootstrap=f"127.0.0.1:{free_port()}")
    redis_service = RedisService(settings)
    redis_service.wait_ready(redis_service.start())
    try:
        await place(settings, [scored(i) for i in range(40)])
        std, pro = await new_key(settings, "b-std"), await new_key(settings, "b-pro")
        async with api_client(settings) as api:
            held = await api.post("/v1/holds/bulk", headers=auth(std), json={
                "lead_ids": [f"lead-{i:05d}" for i in range(20)]})
            assert held.json()["counts"] == {"held": 20}
            tokens = {r["lead_id"]: r["token"] for r in held.json()["results"]}
            co = (await api.post("/v1/checkout", headers={
                **auth(std), "Idempotency-Key": uuid.uuid4().hex},
                json={"lead_ids": [f"lead-{i:05d}" for i in range(5)]})).json()
            paid = await deliver(api, stripe_event("payment_intent.succeeded",
                                                   co["payment_intent"]))
            assert paid.json()["result"] == "sold"

            os.kill(redis_service.running_pid() or 0, signal.SIGKILL)
            await asyncio.sleep(0.5)
            down = [await api.post("/v1/holds", json={"lead_id": "lead-00030"},
                                   headers=auth(pro)),
                    await api.post("/v1/checkout", headers={**auth(std),
                                   "Idempotency-Key": uuid.uuid4().hex}, json={}),
                    await deliver(api, stripe_event("payment_intent.succeeded",
                                                    co["payment_intent"]))]
            # Auth reads Redis first; either way the answer is a 503 with a code, no grant.
            assert [d.status_code for d in down] == [503, 503, 503], [d.text for d in down]
            assert all(d.json()["code"] for d in down)

            redis_service.wait_ready(redis_service.start())  # from the append-only file

            for i in range(20):
                again = await api.post("/v1/holds", json={"lead_id": f"lead-{i:05d}"},
                                       headers=auth(pro))
                assert again.status_code == 409, (i, again.text)
                assert again.json()["code"] == ("sold" if i < 5 else "taken")
            mine = await api.get("/v1/holds", headers=auth(std))
            assert {h["lead_id"]: h["token"] for h in mine.json()} == {
                lead: token for lead, token in tokens.items() if lead >= "lead-00005"}
            orders = (await api.get("/v1/orders", headers=auth(std))).json()
            assert len(orders) == 1 and len(orders[0]["leads"]) == 5
            # The fencing counter survived too: a new hold outranks every earlier one.
            fresh = await api.post("/v1/holds", json={"lead_id": "lead-00030"},
                                   headers=auth(pro))
            assert fresh.status_code == 201 and fresh.json()["token"] > max(tokens.values())
            replay = await deliver(api, stripe_event("payment_intent.succeeded",
                                                     co["payment_intent"]))
            assert replay.json()["result"] == "already"
    finally:
        redis_service.stop()
