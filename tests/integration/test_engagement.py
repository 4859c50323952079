"""Engagement events: landed in ClickHouse once each (both backends), and the behaviour agent.

Events are generated for synthetic leads (`streams.traffic.engagement`), produced with
confluent-kafka (not our code) keyed by contact, and counted in the warehouse exactly:
every event once after FINAL, even when the whole stream is produced twice; events with
no usable contact or no JSON are skipped without stopping the worker.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer

from agents import behaviour
from agents.app import build_app
from agents.topics import declare_topics
from infra.kafka.admin import KEY_PARTITIONER
from infra.settings import Settings
from infra.warehouse.query import run_query
from schemas.codec import encode
from schemas.contract import ENGAGEMENT_EVENTS
from schemas.engagement import EngagementEvent
from streams.features.behaviour import BehaviourBook, decode_event
from streams.traffic.engagement import engagement_for, engagement_key
from streams.traffic.generator import generate
from tests.integration.harness import WorkerProcess, scalar, wait_until

pytestmark = pytest.mark.integration

T0_MS = 1_740_000_000_000


def produce_engagement(settings: Settings, values: list[tuple[bytes | None, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5,
                         "acks": "all", "partitioner": KEY_PARTITIONER})
    failures: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for key, value in values:
        producer.produce(settings.topic(ENGAGEMENT_EVENTS), value, key=key,
                         on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not failures, failures[:3]


def rows_landed(settings: Settings) -> int:
    text = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/metrics", timeout=5).text
    match = re.search(r'^aiq_rows_landed_total\{table="engagement"\} ([0-9.]+)$', text, re.M)
    return int(float(match[1])) if match else 0


def test_engagement_lands_exactly_once_each(worker_settings: Settings, tmp_path: Path) -> None:
    settings = worker_settings
    rng = random.Random(7)
    events = [e for lead in generate(150, seed=41, malformed_share=0.0, fraud_share=0.0)
              for e in engagement_for(lead, rng)]
    by_id = {e.event_id: decode_event(encode(e)) for e in events}
    assert len(by_id) == len(events) > 150
    assert any(e.email is not None and e.email != e.email.strip().lower() for e in events)
    garbage: list[tuple[bytes | None, bytes]] = [
        (None, b'{"event_id": "broken"'),
        (None, encode(EngagementEvent(event_id="nobody", kind="save", occurred_ms=T0_MS,
                                      email="not an email"))),
    ]
    stream = [(engagement_key(e), encode(e)) for e in events]

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        produce_engagement(settings, [*garbage[:1], *stream, *garbage[1:]])
        assert wait_until(lambda: rows_landed(settings) == len(events), timeout=120), (
            rows_landed(settings), worker.log_tail())
        produce_engagement(settings, stream)  # the whole stream again: a producer retry
        assert wait_until(lambda: rows_landed(settings) == 2 * len(events), timeout=120), (
            rows_landed(settings), worker.log_tail())

        assert scalar(settings, "SELECT count() FROM engagement FINAL") == len(events)
        assert scalar(settings, "SELECT uniqExact(event_id) FROM engagement") == len(events)
        landed = run_query(settings, "SELECT event_id, kind, occurred_ms, email, phone, lead_id "
                                     "FROM engagement FINAL")
        for event_id, kind, occurred_ms, email, phone, lead_id in landed.rows:
            expected = by_id[event_id]  # contacts landed normalised, as the book keys them
            assert (kind, occurred_ms, email, phone, lead_id) == (
                expected.kind, expected.occurred_ms, expected.email, expected.phone,
                expected.lead_id)
        assert "undecodable value" in worker.log_tail(200)
    finally:
        worker.stop()


async def test_track_engagement_feeds_the_book_and_skips_garbage(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", topic_prefix="t-behaviour.")
    app = build_app(settings)
    book = BehaviourBook()
    behind = behaviour.register(app, declare_topics(app, settings), settings, book)
    # A contact recovered from the changelog: the book must hold it once events flow.
    behind.table.data["p:+15125550134"] = {"ev": [T0_MS << 3 | 5], "how": [[1, 1]]}
    save = EngagementEvent(event_id="e1", kind="save", occurred_ms=T0_MS, email="Jane@Example.com")
    async with app.agents["track_engagement"].test_context() as agent:
        await agent.put(encode(save))
        await agent.put(b"not json")  # logged, counted, skipped: the agent carries on
        await agent.put(encode(save))  # redelivered: counted once
        bogus = EngagementEvent(event_id="e3", kind="save", occurred_ms=4_000_000_000_000,
                                email="jane@example.com")
        await agent.put(encode(bogus))  # year 2096: would push the history out of its week
        await agent.put(encode(EngagementEvent(event_id="e2", kind="call", occurred_ms=T0_MS + 1,
                                               phone="(512) 555-0134")))
    assert behind.restored
    assert book.export("e:jane@example.com") == {"ev": [T0_MS << 3 | 1], "how": [[69, 1]]}
    assert book.export("p:+15125550134") == {"ev": [T0_MS << 3 | 5, (T0_MS + 1) << 3 | 5],
                                             "how": [[1, 1], [69, 1]]}
    assert sorted(book.take_dirty()) == ["e:jane@example.com", "p:+15125550134"]
