"""Every topic the worker reads or writes, declared once. Values are raw bytes (msgspec JSON)."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from infra.settings import Settings
from schemas.contract import (
    BUYER_INTERACTIONS,
    CART_EVENTS,
    ENGAGEMENT_EVENTS,
    LEADS_DLQ,
    LEADS_OUTCOMES,
    LEADS_SCORED,
    LEADS_SNAPSHOTS,
    MARKET_COMPETITORS,
    RAW_PREFIX,
    RAW_TOPICS,
    SCHEMA_DRIFT,
)


@dataclass(frozen=True)
class Topics:
    raw: faust.TopicT  # all `leads.raw.<source>` topics as one subscription
    scored: faust.TopicT
    dlq: faust.TopicT
    outcomes: faust.TopicT
    engagement: faust.TopicT
    cart: faust.TopicT
    drift: faust.TopicT  # keyed by source
    competitors: faust.TopicT  # keyed by office_id
    interactions: faust.TopicT  # keyed by buyer_id
    snapshots: faust.TopicT  # batches of feature snapshots, co-partitioned with `scored`


def source_of(settings: Settings, topic: str) -> str:
    """`leads.raw.portal` (with any test prefix) → `portal`."""
    return topic.removeprefix(settings.topic(RAW_PREFIX))


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    def topic(*names: str) -> faust.TopicT:
        return app.topic(
            *(settings.topic(name) for name in names),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.topic_partitions,
        )

    return Topics(
        raw=topic(*RAW_TOPICS),
        scored=topic(LEADS_SCORED),
        dlq=topic(LEADS_DLQ),
        outcomes=topic(LEADS_OUTCOMES),
        engagement=topic(ENGAGEMENT_EVENTS),
        cart=topic(CART_EVENTS),
        drift=topic(SCHEMA_DRIFT),
        competitors=topic(MARKET_COMPETITORS),
        interactions=topic(BUYER_INTERACTIONS),
        snapshots=topic(LEADS_SNAPSHOTS),
    )
