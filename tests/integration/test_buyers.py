"""`aiqleads buyers` on a real Kafka: scored leads in, buyer interactions out."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import h3.api.basic_int as h3
import msgspec
import pytest
from confluent_kafka import Consumer, Producer

from infra.demo.buyers import run_buyers
from infra.kafka.admin import KEY_PARTITIONER, delete_prefixed_topics, ensure_topics
from infra.settings import Settings
from schemas.codec import encode
from schemas.contract import BUYER_INTERACTIONS, LEADS_SCORED
from schemas.lead import ScoredLead
from schemas.market import BuyerInteraction
from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration

MIDTOWN = (40.7419, -73.9876)  # a cell two dozen bundled buyers work in
CELL = h3.latlng_to_cell(*MIDTOWN, 7)


@pytest.fixture
def settings() -> Iterator[Settings]:
    settings = Settings(topic_prefix=f"t{uuid.uuid4().hex[:12]}.")
    ensure_topics(settings)
    yield settings
    delete_prefixed_topics(settings)


def lead(i: int, now_ms: int, **changes: object) -> ScoredLead:
    when = datetime.fromtimestamp(now_ms / 1000, UTC)
    base = ScoredLead(
        lead_id=f"portal:{i}", source="portal", source_lead_id=str(i), event_time=when,
        received_time=when, intent="buy", property_type=("condo", "single_family")[i % 2],
        price=400_000.0 + 20_000 * i, lat=MIDTOWN[0], lon=MIDTOWN[1],
        location_precision="exact", h3_r7=CELL, score=0.3, scored_ms=now_ms)
    return msgspec.structs.replace(base, **changes)


def test_buyers_act_once_on_each_sellable_lead(settings: Settings) -> None:
    started_ms = int(time.time() * 1000)
    sellable = [lead(i, started_ms) for i in range(20)]
    unsellable = [lead(100, started_ms, quarantined=True), lead(101, started_ms, h3_r7=0),
                  lead(102, started_ms, duplicate_of="portal:0")]
    # Each sellable lead comes again, quarantined later: the buyers already acted on it.
    requarantined = [msgspec.structs.replace(x, quarantined=True) for x in sellable]
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap,
                         "partitioner": KEY_PARTITIONER})
    topic = settings.topic(LEADS_SCORED)
    for scored in [*sellable, *unsellable, *requarantined]:
        producer.produce(topic, encode(scored), scored.lead_id.encode())
    producer.produce(topic, b"not a lead", b"junk")
    assert producer.flush(30) == 0

    # A million times faster: even returns, days later, fall due within a second.
    summary = run_buyers(settings, seed=7, speedup=1e6, stop_after=10.0, from_start=True,
                         group_id=f"{settings.topic_prefix}buyers")
    assert summary.leads == len(sellable) + len(unsellable)
    assert summary.repeated == len(requarantined)
    assert summary.undecodable == 1
    assert summary.pending == 0
    assert summary.failed == 0
    assert summary.sent["purchase"] > 0

    received: list[tuple[bytes, BuyerInteraction]] = []
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"{settings.topic_prefix}check",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([settings.topic(BUYER_INTERACTIONS)])
    expected = sum(summary.sent.values())

    def drained() -> bool:
        for msg in consumer.consume(500, 0.5):
            assert msg.error() is None, msg.error()
            interaction = msgspec.json.decode(msg.value(), type=BuyerInteraction)
            received.append((msg.key(), interaction))
        return len(received) >= expected

    try:
        assert wait_until(drained, timeout=30, interval=0)
    finally:
        consumer.close()
    assert len(received) == expected
    assert all(key == i.buyer_id.encode() for key, i in received)
    assert {i.lead_id for _, i in received} <= {x.lead_id for x in sellable}
    assert Counter(i.kind for _, i in received) == summary.sent
    purchases = Counter(i.lead_id for _, i in received if i.kind == "purchase")
    assert max(purchases.values()) == 1
    views = Counter((i.buyer_id, i.lead_id) for _, i in received if i.kind == "view")
    assert max(views.values()) == 1  # the re-scored copies were not acted on again
    # Stamped when sent, not at the simulated time (a return would be days ahead).
    assert all(started_ms <= i.occurred_ms <= time.time() * 1000 for _, i in received)
    assert all(i.h3_r7 == CELL for _, i in received)
