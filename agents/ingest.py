"""`score_leads`: every raw event becomes a scored lead or a dead letter, never nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import faust

from agents.replay import dead_letter, headers_of, resolution
from agents.topics import Topics, source_of
from infra.metrics import DEAD_LETTERS, EVENTS_IN, LEADS_SCORED, MODEL_SCORE
from infra.settings import Settings
from schemas.codec import encode
from streams.decode import NO_HEADERS
from streams.dedupe import expired_keys
from streams.errors import INTERNAL_ERROR, LeadRejected
from streams.fraud import FraudScreen
from streams.ingest import IngestLimits, IngestState, ingest_one
from streams.model import ConversionModel

log = logging.getLogger(__name__)


DEDUPE_SWEEP_SECONDS = 600.0


def register(
    app: faust.App,
    topics: Topics,
    settings: Settings,
    model: ConversionModel,
    screen: FraudScreen,
) -> None:
    limits = IngestLimits(
        max_bytes=settings.max_event_bytes,
        max_age=timedelta(days=settings.max_lead_age_days),
        max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
        dedupe_window=timedelta(hours=settings.dedupe_window_hours),
    )
    # Originals by contact and area: changelogged, so a restart still links duplicates.
    first_lead_by_contact = app.Table(
        "first_lead_by_contact",
        key_type=str,
        partitions=settings.topic_partitions,
        help="contact|h3_r8 → first lead_id@event_ms within the dedupe window",
    )
    state = IngestState(model=model, screen=screen, first_lead_by_contact=first_lead_by_contact)

    @app.timer(DEDUPE_SWEEP_SECONDS)
    async def forget_expired_originals() -> None:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        window_ms = int(limits.dedupe_window.total_seconds() * 1000)
        for key in expired_keys(first_lead_by_contact, now_ms, window_ms):
            del first_lead_by_contact[key]

    @app.agent(topics.raw, name="score_leads")
    async def score_leads(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            source = source_of(settings, message.topic)
            raw = event.value if isinstance(event.value, bytes) else b""
            received = datetime.now(UTC)
            produced_ms = int(message.timestamp * 1000)
            EVENTS_IN.labels(source).inc()
            headers = headers_of(message) if message.headers else NO_HEADERS
            try:
                lead = ingest_one(
                    source,
                    raw,
                    received=received,
                    produced_ms=produced_ms,
                    limits=limits,
                    state=state,
                    headers=headers,
                )
            except LeadRejected as exc:
                reason, detail = exc.reason, exc.detail
            except Exception as exc:  # a bug must not lose the event: DLQ it, loudly
                log.exception("ingest failed at %s[%d]@%d", message.topic, message.partition,
                              message.offset)
                reason, detail = INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
            else:
                LEADS_SCORED.labels(source).inc()
                MODEL_SCORE.observe(lead.score)
                await topics.scored.send(key=lead.lead_id.encode(), value=encode(lead))
                # A DLQ replay that now scores: flip its original dead letter to resolved.
                resolved = resolution(message, source=source, raw=raw, lead_id=lead.lead_id,
                                      produced_ms=produced_ms, received_ms=lead.scored_ms)
                if resolved is not None:
                    await topics.dlq.send(key=message.key, value=encode(resolved))
                continue
            DEAD_LETTERS.labels(source, reason).inc()
            # Filed under the original origin when it is a replay: one dead letter per input.
            letter = dead_letter(message, source=source, raw=raw, reason=reason, detail=detail,
                                 produced_ms=produced_ms,
                                 received_ms=int(received.timestamp() * 1000))
            await topics.dlq.send(key=message.key, value=encode(letter))
