"""The serve agents against real Kafka and Redis, in a worker process of their own.

`agents/worker.py` does not register the serve agents yet, so this module is also the
worker: ``python -m tests.integration.test_serve`` builds an app from `build_app`,
`declare_topics` and `agents.serve.register` (settings from `AIQ_*`, buyers from
`AIQ_BUYERS_FILE`) and runs it. The test produces scored leads and buyer interactions
with confluent-kafka (not our code) and reads Redis through the adapter.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import faust
import h3.api.basic_int as h3
import httpx
import msgspec
import pytest
from confluent_kafka import Producer
from faust.web import Request, Response, View

from agents import serve
from agents.app import build_app
from agents.topics import declare_topics
from infra.kafka.admin import KEY_PARTITIONER, ensure_topics
from infra.redis_store import RedisRankings
from infra.settings import Settings
from schemas.codec import encode
from schemas.contract import BUYER_INTERACTIONS, LEADS_SCORED
from schemas.lead import ScoredLead
from schemas.market import Buyer, BuyerInteraction
from streams.serve.ranking import BuyerIndex, load_buyers
from streams.serve.recommender import Recommender
from tests.integration.harness import SCAN_COUNT, free_port, settings_env, wait_until

pytestmark = pytest.mark.integration

HOME = (41.4993, -81.6944)
CELL = h3.latlng_to_cell(*HOME, 7)
BUYERS = [
    Buyer(buyer_id="buyer-0001", brokerage_id="brk-1", cells_r7=[CELL]),
    Buyer(buyer_id="buyer-0002", brokerage_id="brk-2", cells_r7=[CELL], intents=["buy"]),
]


# The worker side (runs in the subprocess)


def build_serve_app(settings: Settings) -> faust.App:
    app = build_app(settings)
    topics = declare_topics(app, settings)
    serve.register(app, topics, settings, RedisRankings.from_settings(settings),
                   BuyerIndex(load_buyers(settings.buyers_file)), Recommender())

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    return app


def main() -> None:
    settings = Settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    ensure_topics(settings)
    faust.Worker(build_serve_app(settings), loglevel="INFO", quiet=True).execute_from_commandline()


# The test side


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    buyers_file = tmp_path / "buyers.json"
    buyers_file.write_bytes(msgspec.json.encode(BUYERS))
    return Settings(state_dir=tmp_path / "state", topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                    worker_web_port=free_port(), buyers_file=buyers_file,
                    redis_url=os.environ.get("AIQ_REDIS_URL", "redis://127.0.0.1:6379/0"))


@pytest.fixture
def worker_log(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    """Runs this module as the worker; yields its log."""
    env = {**os.environ, **settings_env(settings), "AIQ_BUYERS_FILE": str(settings.buyers_file)}
    log_path = tmp_path / "worker.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tests.integration.test_serve"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def healthy() -> bool:
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            url = f"http://127.0.0.1:{settings.worker_web_port}/healthz"
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(healthy, timeout=60, interval=0.3)
        yield log_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        asyncio.run(_drop_keys(settings))
    assert "Traceback" not in log_path.read_text(errors="replace")


async def _drop_keys(settings: Settings) -> None:
    store = RedisRankings.from_settings(settings)
    await store.start()
    keys = [k async for k in store.client.scan_iter(match=f"{settings.topic_prefix}*",
                                                    count=SCAN_COUNT)]
    if keys:
        await store.client.delete(*keys)
    await store.close()


def scored(n: int, score: float = 0.2, **changes: object) -> ScoredLead:
    now = datetime.now(UTC)
    base = ScoredLead(
        lead_id=f"portal:{n}", source="portal", source_lead_id=str(n), event_time=now,
        received_time=now, email="someone@example.com", intent="buy",
        property_type="single_family", price=250_000.0, city="Cleveland", state="OH",
        lat=HOME[0], lon=HOME[1], location_precision="exact", h3_r7=CELL, score=score,
        scored_ms=int(now.timestamp() * 1000))
    return msgspec.structs.replace(base, **changes)


def produce(settings: Settings, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all",
                         "partitioner": KEY_PARTITIONER})
    for key, value in records:
        producer.produce(settings.topic(topic), value, key=key.encode())
    assert producer.flush(30) == 0


class Redis:
    """Synchronous peeks at what the worker wrote (the test body is not async)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, what: str, *args: object) -> object:
        async def go() -> object:
            store = RedisRankings.from_settings(self.settings)
            await store.start()
            try:
                if what == "members":
                    key = str(args[0])
                    return [m.decode() for m in await store.client.zrange(key, 0, -1)]
                if what == "card":
                    return await store.card(str(args[0]))
                if what == "top_for_buyer":
                    found = await store.top_for_buyer(str(args[0]), 10)
                    return [r.card.lead_id for r in found]
                raise ValueError(what)
            finally:
                await store.close()

        return asyncio.run(go())

    def cell(self) -> list[str]:
        return sorted(self.run("members", f"{self.settings.topic_prefix}rank:cell:{CELL:x}"))

    def buyer(self, buyer_id: str) -> list[str]:
        key = f"{self.settings.topic_prefix}rank:buyer:{buyer_id}"
        return sorted(self.run("members", key))


def test_scored_leads_are_ranked_and_sold_ones_leave_every_ranking(
    settings: Settings, worker_log: Path
) -> None:
    redis = Redis(settings)
    leads = [
        scored(1, 0.3),
        scored(2, 0.2),
        scored(3, 0.1, intent="sell"),  # buyer-0002 only buys
        scored(4, 0.9, quarantined=True, fraud_score=0.9),
        scored(5, 0.8, duplicate_of="portal:1"),
        scored(6, 0.7, lat=None, lon=None, h3_r7=0, location_precision="none"),
    ]
    produce(settings, LEADS_SCORED, [(lead.lead_id, encode(lead)) for lead in leads])
    assert wait_until(lambda: redis.cell() == ["portal:1", "portal:2", "portal:3"], timeout=90)
    assert redis.buyer("buyer-0001") == ["portal:1", "portal:2", "portal:3"]
    assert redis.buyer("buyer-0002") == ["portal:1", "portal:2"]
    assert redis.run("top_for_buyer", "buyer-0001") == ["portal:1", "portal:2", "portal:3"]
    for never in ("portal:4", "portal:5", "portal:6"):
        assert redis.run("card", never) is None
    card = redis.run("card", "portal:1")
    assert card is not None and "someone" not in msgspec.json.encode(card).decode()

    # Lead 2 re-scored as quarantined leaves; lead 1 is bought by buyer-0002.
    produce(settings, LEADS_SCORED, [("portal:2", encode(scored(2, 0.2, quarantined=True)))])
    purchase = BuyerInteraction(buyer_id="buyer-0002", lead_id="portal:1", kind="purchase",
                                occurred_ms=int(datetime.now(UTC).timestamp() * 1000),
                                h3_r7=CELL, brokerage_id="brk-2", amount=52.5)
    view = msgspec.structs.replace(purchase, buyer_id="buyer-0001", kind="view", amount=None)
    produce(settings, BUYER_INTERACTIONS,
            [(i.buyer_id, encode(i)) for i in (view, purchase)] + [("buyer-0003", b"{oops")])
    assert wait_until(lambda: redis.cell() == ["portal:3"], timeout=60)
    assert redis.buyer("buyer-0001") == ["portal:3"]
    assert redis.buyer("buyer-0002") == []
    assert redis.run("card", "portal:1") is None

    # The sold lead's scored record consumed again (a replay) does not bring it back.
    produce(settings, LEADS_SCORED, [("portal:1", encode(scored(1, 0.3))),
                                       ("portal:7", encode(scored(7, 0.05)))])
    assert wait_until(lambda: "portal:7" in redis.cell(), timeout=60)
    assert redis.cell() == ["portal:3", "portal:7"]
    assert "undecodable value" in worker_log.read_text(errors="replace")


if __name__ == "__main__":
    main()
