"""`score_leads`: every raw event becomes a scored lead or a dead letter, never nothing.

Besides the fused stage (`streams.ingest`), the agent owns two pieces of bookkeeping:

- Pull-back: the fraud screen may implicate earlier leads of a burst that went out
  unquarantined (`FraudScreen.take_implicating`); the agent re-sends those it still
  remembers (`streams.fraud.pullback.RecentLeads`) on `leads.scored` as quarantined, with a
  newer ``scored_ms``, so the warehouse and serving take them off sale.
- The dedupe table `first_lead_by_contact` forgets originals older than the window on a
  timer. The table uses the producer's partitioner: a timer runs outside any event, so
  Faust has no current partition to write the deletion's changelog record to, and the
  keys (contact|cell) are not co-partitioned with the raw topics anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping, Sequence
from datetime import UTC, datetime, timedelta

import faust
from prometheus_client import Counter

from agents.persist import WriteBehind, restore_all
from agents.replay import dead_letter, headers_of, resolution
from agents.topics import Topics, source_of
from infra.metrics import DEAD_LETTERS, EVENTS_IN, LEADS_SCORED, MODEL_SCORE, observe_scored
from infra.settings import Settings
from schemas.codec import encode
from streams.dedupe import expired_keys, is_expired
from streams.errors import INTERNAL_ERROR, LeadRejected
from streams.features.store import LeadFeatureStore
from streams.fraud.pullback import RecentLeads
from streams.fraud.screen import FraudScreen
from streams.ingest import IngestConfig, IngestState, ingest_one
from streams.parse.decode import NO_HEADERS
from streams.parse.partner_mappings import load_partners
from streams.scoring.arms import Scorer

log = logging.getLogger(__name__)


DEDUPE_SWEEP_SECONDS = 600.0
SWEEP_YIELD_EVERY = 5_000  # deletions between yields to the event loop


def sweep_seconds(window: timedelta) -> float:
    """How often to sweep: every ten minutes, or four times a window when that is shorter."""
    return max(1.0, min(DEDUPE_SWEEP_SECONDS, window.total_seconds() / 4))


async def forget_expired(table: MutableMapping[str, str], now_ms: int, window_ms: int) -> int:
    """Delete the originals older than the window; how many went. Runs outside any event."""
    forgotten = 0
    for key in expired_keys(table, now_ms, window_ms):
        entry = table.get(key)
        # While we yielded, the agent may have stored a fresh original under the same key.
        if entry is None or not is_expired(entry, now_ms, window_ms):
            continue
        del table[key]
        forgotten += 1
        if forgotten % SWEEP_YIELD_EVERY == 0:
            await asyncio.sleep(0)  # a big sweep must not stall the agents
    return forgotten


class _BySource(dict[str, Counter]):
    """A counter's children by source: `labels()` costs ~2 µs an event, a dict get ~0.05."""

    def __init__(self, metric: Counter) -> None:
        super().__init__()
        self.metric = metric

    def __missing__(self, source: str) -> Counter:
        child = self[source] = self.metric.labels(source)
        return child


def register(
    app: faust.App,
    topics: Topics,
    settings: Settings,
    scorer: Scorer,
    screen: FraudScreen,
    stores: Sequence[LeadFeatureStore] = (),
    behinds: Sequence[WriteBehind] = (),
) -> None:
    config = IngestConfig(
        max_bytes=settings.max_event_bytes,
        max_age=timedelta(days=settings.max_lead_age_days),
        max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
        dedupe_window=timedelta(hours=settings.dedupe_window_hours),
        partners=load_partners(settings.partners_file),
    )
    # Originals by contact and area: changelogged, so a restart still links duplicates.
    first_lead_by_contact = app.Table(
        "first_lead_by_contact",
        key_type=str,
        partitions=settings.topic_partitions,
        help="contact|h3_r8 → first lead_id@event_ms within the dedupe window",
        use_partitioner=True,
    )
    state = IngestState(scorer=scorer, screen=screen, first_lead_by_contact=first_lead_by_contact,
                        stores=stores)

    # Leads sent unquarantined, for the screen's pull-backs (in memory: after a restart
    # the leads scored before it can no longer be pulled; `recent.missed` counts them).
    recent = RecentLeads()
    events_in, leads_scored = _BySource(EVENTS_IN), _BySource(LEADS_SCORED)

    @app.timer(sweep_seconds(config.dedupe_window))
    async def forget_expired_originals() -> None:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        window_ms = int(config.dedupe_window.total_seconds() * 1000)
        forgotten = await forget_expired(first_lead_by_contact, now_ms, window_ms)
        if forgotten:
            log.info("forgot %d expired originals of %s", forgotten, first_lead_by_contact.name)

    async def pull_back(now_ms: int) -> None:
        for verdict in screen.take_implicating():
            pulled = recent.pull(verdict, now_ms)
            for lead in pulled:
                await topics.scored.send(key=lead.lead_id.encode(), value=encode(lead))
            if pulled:
                log.info("pulled back %d earlier leads of a burst (%s)", len(pulled),
                         "+".join(verdict.reasons))

    @app.agent(topics.raw, name="score_leads")
    async def score_leads(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            restore_all(behinds)  # the feature stores, once recovered: before the first lead
            message = event.message
            source = source_of(settings, message.topic)
            raw = event.value if isinstance(event.value, bytes) else b""
            received = datetime.now(UTC)
            produced_ms = int(message.timestamp * 1000)
            events_in[source].inc()
            headers = headers_of(message) if message.headers else NO_HEADERS
            reason: str | None = None
            detail = ""
            try:
                lead = ingest_one(
                    source,
                    raw,
                    received=received,
                    produced_ms=produced_ms,
                    config=config,
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
                leads_scored[source].inc()
                MODEL_SCORE.observe(lead.score)
                observe_scored(source, produced_ms, lead.scored_ms,
                               quarantined=lead.quarantined,
                               duplicate=lead.duplicate_of is not None)
                value = encode(lead)
                await topics.scored.send(key=lead.lead_id.encode(), value=value)
                recent.remember(lead, value)
                # A DLQ replay that now scores: flip its original dead letter to resolved.
                resolved = resolution(message, source=source, raw=raw, lead_id=lead.lead_id,
                                      produced_ms=produced_ms, received_ms=lead.scored_ms)
                if resolved is not None:
                    await topics.dlq.send(key=message.key, value=encode(resolved))
            received_ms = int(received.timestamp() * 1000)
            if reason is not None:
                DEAD_LETTERS.labels(source, reason).inc()
                # Filed under the original origin when it is a replay: one dead letter per input.
                letter = dead_letter(message, source=source, raw=raw, reason=reason,
                                     detail=detail, produced_ms=produced_ms,
                                     received_ms=received_ms)
                await topics.dlq.send(key=message.key, value=encode(letter))
            # Screened, even if it failed later: its verdict may implicate earlier leads.
            await pull_back(received_ms)
