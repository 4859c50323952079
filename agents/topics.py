"""Every topic the worker reads or writes, declared once. Values are raw bytes (msgspec JSON)."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from infra.settings import SOURCES, Settings

RAW_PREFIX = "leads.raw."


@dataclass(frozen=True)
class Topics:
    raw: faust.TopicT  # all `leads.raw.<source>` topics as one subscription
    scored: faust.TopicT
    dlq: faust.TopicT
    outcomes: faust.TopicT
    engagement: faust.TopicT
    cart: faust.TopicT
    drift: faust.TopicT  # `schemas.drift`, keyed by source
    competitors: faust.TopicT  # `market.competitors`, keyed by office_id
    interactions: faust.TopicT  # `buyer.interactions`, keyed by buyer_id


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
        raw=topic(*(f"{RAW_PREFIX}{source}" for source in SOURCES)),
        scored=topic("leads.scored"),
        dlq=topic("leads.dlq"),
        outcomes=topic("leads.outcomes"),
        engagement=topic("engagement.events"),
        cart=topic("cart.events"),
        drift=topic("schemas.drift"),
        competitors=topic("market.competitors"),
        interactions=topic("buyer.interactions"),
    )
