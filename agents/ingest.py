"""`score_leads`: every raw event becomes a scored lead or a dead letter, never nothing.

The raw → scored stage runs in batches, not events (DESIGN decision 7): a batched
confluent-kafka consumer (`infra.kafka.batch`) inside the worker, started as a Faust task,
loops poll → score → produce → store → commit, like Quix Streams' checkpointing loop:

1. poll up to `ingest_batch_max` raw events (all five raw topics, one consumer group
   `<app id>-ingest`);
2. run the fused stage (`streams.ingest.ingest_one`) on each, in arrival order (the
   stateful steps need it), queueing every scored lead on `leads.scored` and every
   rejection on `leads.dlq` in librdkafka's C queue, and hand the batch to the storer
   (steps 3-5, one batch after another, while the loop polls and scores the next ones);
3. wait until the broker stored all of them (`flush`);
4. land the batch's leads in ClickHouse from the objects just scored (no second decode,
   no second Kafka hop), retrying until it succeeds, while the flush runs;
5. commit the batch's offsets. Only now: a crash anywhere before replays the batch, and
   every sink is idempotent (ReplacingMergeTree by `lead_id`, a re-scored lead has the
   same `lead_id`). Dead letters land through `land_dead_letters` from `leads.dlq`, and
   Redis is served by `serve_leads` from `leads.scored` (`agents/serve.py`), each in its
   own group from what the flush stored: a Redis outage does not stop landing.

Faust keeps the app, the tables, the web views and the other agents; the stage's state
(dedupe table, feature stores, fraud screen, scorer) lives in the same process and is
only touched from the event loop.

Besides the fused stage, the loop owns two pieces of bookkeeping:

- Pull-back: the fraud screen may implicate earlier leads of a burst that went out
  unquarantined (`FraudScreen.take_implicating`); the loop re-sends those it still
  remembers (`streams.fraud.pullback.RecentLeads`) on `leads.scored` as quarantined, with a
  newer ``scored_ms``, and lands them with the batch, so the warehouse and serving (which
  reads them after the originals: same key, same partition) take them off sale.
- The dedupe table `first_lead_by_contact` forgets originals older than the window on a
  timer. The table uses the producer's partitioner: the loop and the timer run outside any
  Faust event, and the keys (contact|cell) are not co-partitioned with the raw topics. The
  sweep writes tombstones only into the changelog partitions Faust assigned this worker
  (`agents.persist.sweep`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

import faust
from confluent_kafka import Message
from prometheus_client import Counter

from agents.partitioning import pin_partitions
from agents.persist import Changelogged, WriteBehind, restore_all, sweep
from agents.replay import dead_letter, headers_of, resolution
from agents.topics import Topics, source_of
from infra.kafka.batch import BatchConsumer
from infra.metrics import DEAD_LETTERS, EVENTS_IN, MODEL_SCORE, observe_scored
from infra.metrics import LEADS_SCORED as LEADS_SCORED_TOTAL
from infra.settings import Settings
from schemas.codec import encode
from schemas.contract import LEADS_DLQ, LEADS_SCORED, RAW_TOPICS
from schemas.lead import ScoredLead
from streams.dedupe import is_expired
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
YIELD_EVERY = 20  # raw events scored between yields to the event loop (~2-5 ms of CPU)
# Raw events in scored batches waiting for the storer: slack for a slow insert without
# stalling scoring, and the bound on what is scored past the last stored batch while a
# sink is down. Counted in events, not batches: light traffic polls many small batches
# (a 10 ms poll holds ~15 leads at 1,500/s), and four of those are less than one insert.
STORE_QUEUE_EVENTS = 4_000


def sweep_seconds(window: timedelta) -> float:
    """How often to sweep: every ten minutes, or four times a window when that is shorter."""
    return max(1.0, min(DEDUPE_SWEEP_SECONDS, window.total_seconds() / 4))


class _BySource(dict[str, Counter]):
    """A counter's children by source: `labels()` costs ~2 µs an event, a dict get ~0.05."""

    def __init__(self, metric: Counter) -> None:
        super().__init__()
        self.metric = metric

    def __missing__(self, source: str) -> Counter:
        child = self[source] = self.metric.labels(source)
        return child


class RawMessage(NamedTuple):
    """The fields of a raw Kafka message the stage reads (`agents.replay` duck-types it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Any  # a list of (name, bytes) pairs, or None
    timestamp: float  # seconds: Kafka's CreateTime, set by the producing client

    @classmethod
    def of(cls, message: Message) -> RawMessage:
        return cls(message.topic(), message.partition(), message.offset(), message.key(),
                   message.value() or b"", message.headers(), message.timestamp()[1] / 1000)


@dataclass(slots=True)
class ScoredBatch:
    """What one batch of raw events became: the leads to store, and where to commit."""

    leads: list[ScoredLead] = field(default_factory=list)  # pull-backs included, in order
    dead_letters: int = 0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset to read


Send = Callable[[str, bytes, "bytes | None"], None]  # topic, value, key


class RawStage:
    """The raw → scored stage over a batch: every event becomes a lead or a dead letter.

    No I/O of its own: outputs go to `send` (the batch producer's queue), and the
    caller flushes, stores and commits. State lives in `state` and `recent`.
    """

    def __init__(self, settings: Settings, config: IngestConfig, state: IngestState,
                 send: Send, *, scored_topic: str, dlq_topic: str,
                 sample: Callable[[RawMessage], None] | None = None,
                 recent: RecentLeads | None = None) -> None:
        self.settings = settings
        self.config = config
        self.state = state
        self.send = send
        self.scored_topic = scored_topic
        self.dlq_topic = dlq_topic
        self.sample = sample
        # Leads sent unquarantined, for the screen's pull-backs (in memory: after a restart
        # the leads scored before it can no longer be pulled; `recent.missed` counts them).
        self.recent = recent if recent is not None else RecentLeads()
        self._sources: dict[str, str] = {}
        self._events_in, self._leads_scored = _BySource(EVENTS_IN), _BySource(LEADS_SCORED_TOTAL)

    def source_of(self, topic: str) -> str:
        source = self._sources.get(topic)
        if source is None:
            source = self._sources[topic] = source_of(self.settings, topic)
        return source

    def score(self, messages: Sequence[RawMessage], batch: ScoredBatch | None = None
              ) -> ScoredBatch:
        """Score `messages` into `batch` (a new one by default) and return it."""
        batch = ScoredBatch() if batch is None else batch
        # One clock reading a chunk: a lead is "received" when its batch is (≤ one poll).
        received = datetime.now(UTC)
        received_ms = int(received.timestamp() * 1000)
        for message in messages:
            self._one(message, received, received_ms, batch)
            batch.offsets[(message.topic, message.partition)] = message.offset + 1
        return batch

    def _one(self, message: RawMessage, received: datetime, received_ms: int,
             batch: ScoredBatch) -> None:
        source = self.source_of(message.topic)
        raw = message.value
        produced_ms = int(message.timestamp * 1000)
        self._events_in[source].inc()
        if self.sample is not None:
            self.sample(message)
        headers = headers_of(message) if message.headers else NO_HEADERS
        reason: str | None = None
        detail = ""
        try:
            lead = ingest_one(source, raw, received=received, produced_ms=produced_ms,
                              config=self.config, state=self.state, headers=headers)
        except LeadRejected as exc:
            reason, detail = exc.reason, exc.detail
        except Exception as exc:  # a bug must not lose the event: DLQ it, loudly
            log.exception("ingest failed at %s[%d]@%d", message.topic, message.partition,
                          message.offset)
            reason, detail = INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
        else:
            self._leads_scored[source].inc()
            MODEL_SCORE.observe(lead.score)
            observe_scored(source, produced_ms, lead.scored_ms, quarantined=lead.quarantined,
                           duplicate=lead.duplicate_of is not None)
            value = encode(lead)
            self.send(self.scored_topic, value, lead.lead_id.encode())
            batch.leads.append(lead)
            self.recent.remember(lead, value)
            # A DLQ replay that now scores: flip its original dead letter to resolved.
            resolved = resolution(message, source=source, raw=raw,  # type: ignore[arg-type]
                                  lead_id=lead.lead_id, produced_ms=produced_ms,
                                  received_ms=lead.scored_ms)
            if resolved is not None:
                self.send(self.dlq_topic, encode(resolved), message.key)
        if reason is not None:
            DEAD_LETTERS.labels(source, reason).inc()
            # Filed under the original origin when it is a replay: one dead letter per input.
            letter = dead_letter(message, source=source, raw=raw,  # type: ignore[arg-type]
                                 reason=reason, detail=detail, produced_ms=produced_ms,
                                 received_ms=received_ms)
            self.send(self.dlq_topic, encode(letter), message.key)
            batch.dead_letters += 1
        # Screened, even if it failed later: its verdict may implicate earlier leads.
        self._pull_back(received_ms, batch)

    def _pull_back(self, now_ms: int, batch: ScoredBatch) -> None:
        for verdict in self.state.screen.take_implicating():
            pulled = self.recent.pull(verdict, now_ms)
            for lead in pulled:
                self.send(self.scored_topic, encode(lead), lead.lead_id.encode())
                batch.leads.append(lead)
            if pulled:
                log.info("pulled back %d earlier leads of a burst (%s)", len(pulled),
                         "+".join(verdict.reasons))


class BatchSource(Protocol):
    """What the loop needs of a batched consumer (`infra.kafka.batch.BatchConsumer`)."""

    async def poll(self) -> Sequence[Any]: ...
    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None: ...
    async def flush(self) -> None: ...
    async def commit(self, offsets: dict[tuple[str, int], int]) -> None: ...


class StoreQueue:
    """Scored batches waiting for the storer, bounded by the raw events they hold.

    `take` hands over everything queued as one batch (in order: offsets of later batches
    win), so a storer that fell behind catches up with one larger insert."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._batches: list[ScoredBatch] = []
        self._events = 0
        self._closed = False
        self._changed = asyncio.Event()  # either side waits for the other on it

    async def put(self, batch: ScoredBatch, events: int) -> None:
        """Queue `batch` (`events` raw events) once there is room."""
        while self._events >= self.limit:
            self._changed.clear()
            await self._changed.wait()
        self._batches.append(batch)
        self._events += events
        self._changed.set()

    def close(self) -> None:
        """No more batches: `take` returns None once the queue is drained."""
        self._closed = True
        self._changed.set()

    async def take(self) -> ScoredBatch | None:
        while not self._batches:
            if self._closed:
                return None
            self._changed.clear()
            await self._changed.wait()
        batches, self._batches, self._events = self._batches, [], 0
        self._changed.set()
        merged = batches[0]
        for more in batches[1:]:
            merged.leads.extend(more.leads)
            merged.dead_letters += more.dead_letters
            merged.offsets.update(more.offsets)
        return merged


async def run_batches(source: BatchSource, stage: RawStage,
                      store: Callable[[list[ScoredLead]], Awaitable[None]],
                      to_message: Callable[[Any], RawMessage] = RawMessage.of,
                      batches: int | None = None, queued: int = STORE_QUEUE_EVENTS) -> None:
    """poll → score → (flush ‖ store) → commit, forever (or `batches` non-empty batches).

    Scoring never waits for the sinks: a scored batch is queued (up to `queued` raw events
    in all, then the loop waits: backpressure while a sink is down) for one storer task,
    which stores and commits in order, one store at a time, so sinks see batches in order
    and commits only ever move forward; batches that queued up meanwhile go out together.
    Leads reach `leads.scored`, and so Redis, as soon as they are scored: librdkafka sends
    them meanwhile, and the storer's flush only waits for them. Scoring yields to the event
    loop every `YIELD_EVERY` events so that the I/O of the batches being stored (and
    Faust's other agents) keep moving.
    """
    queue = StoreQueue(queued)
    storer = asyncio.ensure_future(_store_in_order(source, store, queue))
    done = 0
    try:
        while batches is None or done < batches:
            if storer.done():
                await storer  # surfaces a failure
            polled = await source.poll()
            if not polled:
                continue
            batch = ScoredBatch()
            for start in range(0, len(polled), YIELD_EVERY):
                stage.score([to_message(m) for m in polled[start:start + YIELD_EVERY]], batch)
                await asyncio.sleep(0)
            await _unless_failed(queue.put(batch, len(polled)), storer)
            done += 1
        queue.close()
        await storer
    finally:
        if not storer.done():
            # Stopping: let the queued batches be stored and committed (a SIGKILL instead
            # simply replays them).
            queue.close()
            with suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(storer), timeout=15)
            storer.cancel()


async def _unless_failed(put: Awaitable[None], storer: asyncio.Future[None]) -> None:
    """Await `put` (it waits while the queue is full), unless the storer dies meanwhile."""
    putting = asyncio.ensure_future(put)
    await asyncio.wait({putting, storer}, return_when=asyncio.FIRST_COMPLETED)
    if not putting.done():
        putting.cancel()
        await storer  # it stopped early: raise its failure
        raise RuntimeError("the storer stopped before the last batch")


async def _store_in_order(source: BatchSource,
                          store: Callable[[list[ScoredLead]], Awaitable[None]],
                          queue: StoreQueue) -> None:
    """Store and commit what is queued, in order, until the queue is closed and drained."""
    while (batch := await queue.take()) is not None:
        await _store_and_commit(source, store, batch)


async def _store_and_commit(source: BatchSource,
                            store: Callable[[list[ScoredLead]], Awaitable[None]],
                            batch: ScoredBatch) -> None:
    # leads.scored and leads.dlq have every output of the batch, and the warehouse has its
    # leads: at once, as neither waits for the other. Then, only then, commit.
    if batch.leads:
        await asyncio.gather(source.flush(), store(batch.leads))
    else:
        await source.flush()
    await source.commit(batch.offsets)


def register(
    app: faust.App,
    topics: Topics,
    settings: Settings,
    scorer: Scorer,
    screen: FraudScreen,
    *,
    store: Callable[[list[ScoredLead]], Awaitable[None]],
    stores: Sequence[LeadFeatureStore] = (),
    behinds: Sequence[WriteBehind] = (),
    sample: Callable[[RawMessage], None] | None = None,
) -> BatchConsumer:
    """Declare the dedupe table and start the batch loop as a Faust task.

    `store(leads)` puts a batch's leads into every sink and returns once they are all
    stored; `sample` sees every raw message (the drift sensor).
    """
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
    # The dedupe sweep deletes through Faust outside any event: no producer-metadata race.
    pin_partitions(first_lead_by_contact, settings.topic_partitions)
    consumer = BatchConsumer(
        settings.kafka_bootstrap, f"{settings.topic_prefix}{settings.app_id}-ingest",
        [settings.topic(name) for name in RAW_TOPICS],
        max_messages=settings.ingest_batch_max, poll_timeout=settings.ingest_poll_seconds,
        # Until this loop, the Faust agent's group committed the raw topics: start there.
        resume_from=f"{settings.topic_prefix}{settings.app_id}")
    # Its changelog goes out with the batch's other outputs (agents.persist.Changelogged).
    originals = Changelogged(first_lead_by_contact, consumer.produce)
    state = IngestState(scorer=scorer, screen=screen, first_lead_by_contact=originals,
                        stores=stores)
    stage = RawStage(settings, config, state, consumer.produce,
                     scored_topic=settings.topic(LEADS_SCORED),
                     dlq_topic=settings.topic(LEADS_DLQ), sample=sample)

    @app.timer(sweep_seconds(config.dedupe_window))
    async def forget_expired_originals() -> None:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        window_ms = int(config.dedupe_window.total_seconds() * 1000)
        # The table's changelog partitions follow Faust's assignment, not the raw loop's.
        owned = {tp.partition for tp in app.consumer.assignment()}
        forgotten = await sweep(
            originals, lambda _, entry: is_expired(entry, now_ms, window_ms),
            partition_of=first_lead_by_contact.partition_for_key, owned=owned)
        if forgotten:
            log.info("forgot %d expired originals of %s", forgotten, first_lead_by_contact.name)

    @app.task
    async def score_leads() -> None:
        # The dedupe table and the feature stores first: no lead before its state is back.
        await app.tables.recovery.completed.wait()
        restore_all(behinds)
        consumer.start()
        try:
            await run_batches(consumer, stage, store)
        finally:
            consumer.close()

    return consumer
