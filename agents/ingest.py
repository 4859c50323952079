"""`score_leads`: every raw event becomes a scored lead or a dead letter, never nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import faust

from agents.topics import Topics, source_of
from infra.metrics import DEAD_LETTERS, EVENTS_IN, LEADS_SCORED, MODEL_SCORE
from infra.settings import Settings
from schemas.codec import encode
from schemas.dead_letter import DeadLetter
from streams.errors import INTERNAL_ERROR, LeadRejected
from streams.ingest import IngestLimits, ingest_one
from streams.model import ConversionModel

log = logging.getLogger(__name__)


def register(app: faust.App, topics: Topics, settings: Settings, model: ConversionModel) -> None:
    limits = IngestLimits(
        max_bytes=settings.max_event_bytes,
        max_age=timedelta(days=settings.max_lead_age_days),
        max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
    )

    @app.agent(topics.raw, name="score_leads")
    async def score_leads(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            source = source_of(settings, message.topic)
            raw = event.value if isinstance(event.value, bytes) else b""
            received = datetime.now(UTC)
            produced_ms = int(message.timestamp * 1000)
            EVENTS_IN.labels(source).inc()
            try:
                lead = ingest_one(
                    source,
                    raw,
                    received=received,
                    produced_ms=produced_ms,
                    limits=limits,
                    model=model,
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
                continue
            DEAD_LETTERS.labels(source, reason).inc()
            letter = DeadLetter(
                reason=reason,
                detail=detail[:1000],
                source=source,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                raw=raw,
                headers=_headers(message.headers),
                produced_ms=produced_ms,
                received_ms=int(received.timestamp() * 1000),
            )
            await topics.dlq.send(key=message.key, value=encode(letter))


def _headers(headers: object) -> dict[str, str]:
    items = headers.items() if isinstance(headers, dict) else (headers or ())
    return {
        str(k): v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        for k, v in items  # type: ignore[union-attr]
    }
