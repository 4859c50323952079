"""`aiqleads produce` against a real Kafka: a consumer reads what the summary says was sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, KafkaException, Message
from confluent_kafka.admin import AdminClient

from infra.demo.produce import produce
from infra.kafka.admin import delete_prefixed_topics
from infra.settings import Settings
from schemas.codec import outcome_decoder
from schemas.contract import LEADS_OUTCOMES, raw_topic
from streams.traffic.generator import generate

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 17, 30, tzinfo=UTC)
SOURCES = ("portal", "facebook")


@pytest.fixture
def settings() -> Iterator[Settings]:
    """Settings for this test alone: its own topics on the shared broker, deleted afterwards."""
    settings = Settings(topic_prefix=f"t{uuid.uuid4().hex[:12]}.")
    # The broker may be restarting (`aiqleads up` in another session): give it a moment.
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    for _ in range(10):
        try:
            admin.list_topics(timeout=5)
            break
        except KafkaException:
            time.sleep(2)
    else:
        pytest.fail(f"no Kafka at {settings.kafka_bootstrap}; run `aiqleads up`")
    yield settings
    delete_prefixed_topics(settings)


def _consume(settings: Settings, topics: list[str], expected: int) -> Iterator[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.topic_prefix}check",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    seen = 0
    deadline = time.monotonic() + 60
    try:
        while seen < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                raise KafkaException(msg.error())
            seen += 1
            yield msg
        # Nothing more should arrive: the summary is the whole story.
        extra = consumer.poll(1.0)
        assert extra is None or extra.error() is not None
    finally:
        consumer.close()


def test_what_was_produced_is_what_a_consumer_reads(settings: Settings, tmp_path: Path) -> None:
    summary = produce(
        settings,
        sources=SOURCES,
        rate=0,
        count=500,
        seed=5,
        malformed_share=0.1,
        outcome_delay=0.05,
        now=lambda: NOW,
    )
    assert summary.events == 500
    assert summary.failed == 0
    assert summary.outcomes_pending == 0
    assert summary.outcomes_sent == summary.expected["valid"]
    assert summary.delivered == 500 + summary.outcomes_sent
    assert summary.expected.total() == 500
    assert len(summary.expected) > 3  # a 10 % malformed share shows several reason codes

    raw_topics = {settings.topic(raw_topic(s)): s for s in SOURCES}
    outcomes_topic = settings.topic(LEADS_OUTCOMES)
    total = summary.events + summary.outcomes_sent
    messages = list(_consume(settings, [*raw_topics, outcomes_topic], total))
    assert len(messages) == total

    raw = [m for m in messages if m.topic() in raw_topics]
    outcomes = [m for m in messages if m.topic() == outcomes_topic]
    assert Counter(raw_topics[m.topic()] for m in raw) == summary.events_by_source
    assert all(dict(m.headers())["x-source"] == raw_topics[m.topic()].encode() for m in raw)

    # Byte for byte what the pure generator makes from the same seed and clock.
    generated = generate(500, sources=SOURCES, seed=5, malformed_share=0.1, now=NOW)
    assert Counter((m.key(), m.value() or b"") for m in raw) == Counter(
        (e.key, e.value) for e in generated
    )

    valid_ids = {lead_id for lead_id, _, _ in summary.valid_leads}
    assert len(valid_ids) == summary.expected["valid"]
    assert {m.key().decode() for m in outcomes} == valid_ids
    decoded = [outcome_decoder.decode(m.value()) for m in outcomes]
    assert all(o.lead_id == m.key().decode() for o, m in zip(decoded, outcomes, strict=True))
    assert Counter(o.kind for o in decoded) == summary.outcome_kinds

    manifest_path = tmp_path / "manifest.json"
    summary.write_manifest(manifest_path)
    manifest = orjson.loads(manifest_path.read_bytes())
    assert manifest["events"] == 500
    assert len(manifest["valid_leads"]) + len(manifest["rejected"]) == 500
    assert Counter(r["expected"] for r in manifest["rejected"]) == {
        code: n for code, n in summary.expected.items() if code != "valid"
    }
    assert "valid" in summary.render()


def test_rate_is_paced_without_outcomes(settings: Settings) -> None:
    started = time.monotonic()
    summary = produce(
        settings,
        sources=("facebook",),
        rate=200,
        count=300,
        seed=1,
        malformed_share=0.0,
        outcome_delay=None,
    )
    elapsed = time.monotonic() - started
    assert summary.outcomes_sent == 0
    assert summary.delivered == 300
    # 300 events at 200/s: 1.5 s less the initial burst of a twentieth of a second's worth.
    assert 1.2 < summary.leads_elapsed_s < 2.5
    assert elapsed < 10
    assert 120 < summary.rate < 260


def test_sigterm_stops_endless_traffic_cleanly(settings: Settings) -> None:
    """`aiqleads run` stops its traffic process with SIGTERM: it must flush and report."""
    env = {**os.environ, "AIQ_TOPIC_PREFIX": settings.topic_prefix}
    args = ["produce", "--count", str(10**9), "--rate", "100", "--outcome-delay", "60"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(4)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped early" in out
    assert " 0 failed" in out
    assert "pending" in out
