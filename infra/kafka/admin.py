"""Kafka administration: create the contract topics before anything produces or consumes.

Faust only creates its internal topics (changelogs, assignor); ours must exist
with one partition count so that `leads.scored` and `leads.outcomes` stay
co-partitioned by `lead_id`.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from infra.settings import Settings
from schemas.contract import CONTRACT_TOPICS, TOPIC_CONFIGS
from streams.errors import AIQLeadsError

log = logging.getLogger(__name__)

#: Java clients and aiokafka (hence Faust) hash keys with murmur2; librdkafka's default
#: does not. Every confluent-kafka producer of keyed topics uses this, or joins by key break.
KEY_PARTITIONER = "murmur2_random"


class KafkaUnavailable(AIQLeadsError):
    """No broker answered at the configured bootstrap address."""


def ensure_topics(settings: Settings, timeout: float = 15.0) -> list[str]:
    """Create any missing contract topic; returns the physical names created. Idempotent."""
    admin = AdminClient(
        {"bootstrap.servers": settings.kafka_bootstrap, "logger": logging.getLogger("librdkafka")}
    )
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise KafkaUnavailable(
            f"no Kafka at {settings.kafka_bootstrap} ({exc.args[0].str()}): "
            "start it with `aiqleads up` or set AIQ_KAFKA_BOOTSTRAP"
        ) from exc
    missing = [
        NewTopic(settings.topic(topic), num_partitions=settings.topic_partitions,
                 replication_factor=settings.kafka_replication,
                 config=TOPIC_CONFIGS.get(topic, {}))
        for topic in CONTRACT_TOPICS
        if settings.topic(topic) not in existing
    ]
    created = []
    for name, future in (admin.create_topics(missing, operation_timeout=timeout).items()
                         if missing else ()):
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as exc:
            # Another worker or the broker's auto-create won the race: fine.
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    if created:
        log.info("created topics %s (%d partitions)", ", ".join(created),
                 settings.topic_partitions)
    return created


def delete_prefixed_topics(settings: Settings, timeout: float = 15.0) -> list[str]:
    """Delete every topic under `settings.topic_prefix` (a bench run's or a test's own,
    Faust's changelogs included); returns the names. A broker keeps every partition's
    files and indexes open, so thousands left behind slow it and its start."""
    assert settings.topic_prefix, "no prefix: this would delete every topic"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap,
                         "logger": logging.getLogger("librdkafka")})
    names = [name for name in admin.list_topics(timeout=timeout).topics
             if name.startswith(settings.topic_prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=timeout).values():
            future.result(timeout=timeout)
    return names
