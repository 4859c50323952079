"""`ensure_topics` on the real broker: every contract topic, one partition count, own configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from infra.kafka.admin import delete_prefixed_topics, ensure_topics
from schemas.contract import CONTRACT_TOPICS, FRAUD_SIGHTINGS, TOPIC_CONFIGS
from tests.integration.harness import own_settings

pytestmark = pytest.mark.integration


def test_contract_topics_are_created_once_with_their_partitions_and_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = own_settings(tmp_path, monkeypatch, "topics")
    try:
        created = ensure_topics(settings)
        assert sorted(created) == sorted(settings.topic(t) for t in CONTRACT_TOPICS)
        assert ensure_topics(settings) == []  # idempotent
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
        topics = admin.list_topics(timeout=10).topics
        assert {len(topics[name].partitions) for name in created} == {settings.topic_partitions}
        sightings = ConfigResource("topic", settings.topic(FRAUD_SIGHTINGS))
        config = admin.describe_configs([sightings])[sightings].result(timeout=10)
        # An hour, not the broker's week: every worker reads it from the last half hour.
        assert config["retention.ms"].value == TOPIC_CONFIGS[FRAUD_SIGHTINGS]["retention.ms"]
        assert config["retention.ms"].value == str(3_600_000)
    finally:
        delete_prefixed_topics(settings)
