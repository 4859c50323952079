"""`track_engagement`: engagement events into the behaviour book the ingest stage reads.

The book (streams/features/behaviour.py) is in-memory and written behind into the changelogged
table `behaviour_by_contact` (agents/persist.py). It is restored from that table before
the first engagement event (Faust delivers none before the table has recovered); the
ingest agent reading the book should call `WriteBehind.restore()` before its first lead
too, since leads may come first. Events that do not decode, or name no valid contact,
are logged with their origin, counted, and skipped: engagement has no dead-letter topic
and must never stop the worker; so are events dated more than a day ahead of the clock.
People idle for a week are expired on a timer.
"""

from __future__ import annotations

import logging
import time

import faust
from prometheus_client import Counter

from agents.persist import WriteBehind, persisted
from agents.topics import Topics
from infra.settings import Settings
from streams.features.behaviour import BadEngagement, BehaviourBook, decode_event, too_far_ahead

log = logging.getLogger(__name__)

TABLE = "behaviour_by_contact"
EXPIRE_SECONDS = 300.0

ENGAGEMENT_EVENTS = Counter(
    "aiq_engagement_events_total", "Engagement events consumed by the behaviour book",
    ["outcome"],  # counted, repeat (redelivered or older than a week), or a rejection reason
)


def register(
    app: faust.App, topics: Topics, settings: Settings, book: BehaviourBook
) -> WriteBehind:
    behind = persisted(app, settings, TABLE, book,
                       help="Engagement per contact key: events, hour-of-week habits")

    @app.agent(topics.engagement, name="track_engagement")
    async def track_engagement(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            behind.restore()  # idempotent: loads the table once, at the first event
            try:
                engagement = decode_event(event.value)
            except BadEngagement as exc:
                m = event.message
                log.warning("engagement event skipped at %s[%d]@%d: %s",
                            m.topic, m.partition, m.offset, exc)
                ENGAGEMENT_EVENTS.labels(exc.reason).inc()
                continue
            if too_far_ahead(engagement, int(time.time() * 1000)):
                m = event.message
                log.warning("engagement event dated %d skipped at %s[%d]@%d: in the future",
                            engagement.occurred_ms, m.topic, m.partition, m.offset)
                ENGAGEMENT_EVENTS.labels("in_future").inc()
                continue
            counted = book.observe_event(engagement)
            ENGAGEMENT_EVENTS.labels("counted" if counted else "repeat").inc()

    @app.timer(EXPIRE_SECONDS, name="expire_behaviour")
    async def expire_behaviour() -> None:
        if behind.restored:  # expiring a cold store would forget nothing and mean nothing
            expired = book.expire(int(time.time() * 1000))
            if expired:
                log.info("behaviour: forgot %d contacts idle for a week", expired)

    return behind
