"""`score_leads`: every raw event becomes a scored lead or a dead letter, never nothing.

The raw → scored stage runs in batches, not events (DESIGN decision 7): a batched
confluent-kafka consumer (`infra.kafka.batch`) inside the worker, started as a Faust task,
loops poll → score → produce → store → commit, like Quix Streams' checkpointing loop:

1. poll up to `ingest_batch_max` raw events (all five raw topics, one consumer group
   `<app id>-ingest`);
2. merge the other workers' dedupe originals that arrived meanwhile (the table's mirror),
   then run the stage over each chunk of `CHUNK_EVENTS`, one step at a time
   (`streams.ingest.prepare` each event, then `score_prepared`: the leads in arrival
   order, the answers `ingest_one` gives one at a time), queueing every scored lead on
   `leads.scored` and every rejection on `leads.dlq` in librdkafka's C queue, and hand
   the batch to the storer
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

Besides the fused stage, the loop owns some bookkeeping:

- Pull-back: the fraud screen may implicate earlier leads of a burst that went out
  unquarantined (`FraudScreen.take_implicating`); the loop re-sends those it still
  remembers (`streams.fraud.pullback.RecentLeads`) on `leads.scored` as quarantined, with a
  newer ``scored_ms``, and lands them with the batch, so the warehouse and serving (which
  reads them after the originals: same key, same partition) take them off sale. Those it
  does not remember are read back from the warehouse (below, as for missed links).
- Missed links: every worker mirrors the whole dedupe table (`OriginalsMirror`, from its
  changelog, all partitions). When two workers scored two leads of one person and area
  within one mirror delay, both went out as originals; the merge names the later one, and
  the worker that scored it (it still remembers it in `recent`) re-sends it linked, with
  a newer ``scored_ms``, like a pull-back, and points its keys in the table at the original.
  A worker that does not remember the lead (another one scored it and has stopped since,
  it was quarantined, or it was scored before a restart) reads it back from the warehouse
  two seconds later (`streams.readback`; `LandedLookup`, off the loop) and re-sends it if
  it is still unlinked.
- Fraud sightings: the screen's velocity and bot-timing rules count a contact's (an IP's)
  leads across areas, and a burst's leads reach different workers. Each worker sends what
  its screen saw of a chunk's leads on `fraud.sightings` (one record a chunk, keyed by the
  worker) with the batch's other outputs, and mirrors the other workers'
  (`SightingsMirror`, the last half hour at start), so its screen counts the whole burst.
  A verdict from another worker that implicated leads this worker sent makes it pull them
  back, like its own verdicts.
- The dedupe table `first_lead_by_contact` forgets originals older than the window on a
  timer. The table uses the producer's partitioner: the loop and the timer run outside any
  Faust event, and the keys (contact|cell) are not co-partitioned with the raw topics. The
  sweep writes tombstones only into the changelog partitions Faust assigned this worker
  (`agents.persist.sweep`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol, TypeVar

import faust
import msgspec
import orjson
from confluent_kafka import Message
from prometheus_client import Counter

from agents.partitioning import key_partition, pin_partitions
from agents.persist import Changelogged, WriteBehind, restore_all, sweep
from agents.replay import dead_letter, headers_of, resolution
from agents.topics import Topics, source_of
from infra.kafka.batch import BatchConsumer
from infra.kafka.mirror import TopicMirror
from infra.metrics import (
    DEAD_LETTERS,
    DEDUPE_RELINKED,
    EVENTS_IN,
    FRAUD_PULLED_BACK,
    FRAUD_SIGHTINGS_MIRRORED,
    MODEL_SCORE,
    READ_BACKS_ABANDONED,
    observe_scored,
)
from infra.metrics import LEADS_SCORED as LEADS_SCORED_TOTAL
from infra.settings import Settings
from schemas.codec import encode
from schemas.contract import (
    FRAUD_SIGHTINGS,
    LEADS_DLQ,
    LEADS_SCORED,
    LEADS_SNAPSHOTS,
    RAW_TOPICS,
)
from schemas.fraud import FraudSighting
from schemas.lead import FeatureSnapshot, ScoredLead
from streams.dedupe import MissedLink, is_expired, merge_original, original_keys
from streams.errors import INTERNAL_ERROR, LeadRejected, without_traceback
from streams.features.store import LeadFeatureStore
from streams.fraud.pullback import RecentLeads, quarantine_implicated
from streams.fraud.screen import FraudScreen, FraudVerdict
from streams.ingest import IngestConfig, IngestState, Outcome, Prepared, prepare, score_prepared
from streams.parse.decode import NO_HEADERS
from streams.parse.partner_mappings import load_partners
from streams.readback import PendingReads
from streams.scoring.arms import Scorer

log = logging.getLogger(__name__)
T = TypeVar("T")


DEDUPE_SWEEP_SECONDS = 600.0
# Raw events scored as one chunk, step by step (`streams.ingest.score_prepared`), between
# yields to the event loop. Bigger chunks keep each step's code hot longer and wake the
# other tasks less often: one worker under a backlog, alternating runs, 20 → 50 → 100 gave
# +8 % each, 250 no more (BENCHMARKS.md). 100 leads are ~30 ms of CPU: the longest the
# storer and the serve loop wait for the loop; under light traffic a poll holds fewer.
CHUNK_EVENTS = 100
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


class Send(Protocol):
    """Queue one message (`BatchConsumer.produce`); partition -1: by the key's murmur2."""

    def __call__(self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None,
                 partition: int = -1) -> None: ...


class OriginalsMirror:
    """Other workers' originals merged into this worker's dedupe table, as their changelog
    records arrive (`infra.kafka.mirror`); the links that reveals were missed wait in
    `missed` (the stage's `IngestState.missed_links`) for `RawStage.relink`."""

    def __init__(self, data: MutableMapping[str, str], window: timedelta,
                 missed: list[MissedLink]) -> None:
        self.data = data  # the table's memory: a mirrored record is not written again
        self.window_ms = int(window.total_seconds() * 1000)
        self.missed = missed

    def apply(self, key: bytes, value: bytes | None) -> None:
        missed = merge_original(self.data, orjson.loads(key),
                                None if value is None else orjson.loads(value),
                                window_ms=self.window_ms, now_ms=int(time.time() * 1000))
        if missed is not None:
            self.missed.append(missed)


class SightingsMirror:
    """Other workers' fraud sightings remembered by this worker's screen as they arrive
    (`infra.kafka.mirror` over `fraud.sightings`); a verdict that implicated leads this
    worker sent waits in the stage's `implicated_elsewhere` to be pulled back."""

    _decoder = msgspec.json.Decoder(list[FraudSighting])
    _one_decoder = msgspec.json.Decoder(FraudSighting)  # records written before 2026-12-07

    def __init__(self, stage: RawStage) -> None:
        self.stage = stage

    def apply(self, key: bytes, value: bytes | None) -> None:
        stage = self.stage
        if key == stage.worker or value is None:
            return  # its own: already in its screen
        try:
            # A sighting is itself an array: a chunk's list of them starts with two brackets.
            sightings = (self._decoder.decode(value) if value.lstrip()[1:2] in (b"[", b"]")
                         else [self._one_decoder.decode(value)])
        except msgspec.DecodeError as exc:  # not ours to judge: skip it, say so
            log.warning("skipped fraud sightings from %r: %s", key, exc)
            return
        now_ms = int(time.time() * 1000)
        screen = stage.state.screen
        for sighting in sightings:
            verdict = screen.observe(sighting, now_ms)
            if verdict is not None:
                mine = tuple(lead for lead in verdict.implicated if lead in stage.recent)
                if mine:
                    stage.implicated_elsewhere.append(verdict._replace(implicated=mine))
        FRAUD_SIGHTINGS_MIRRORED.inc(len(sightings))


class RawStage:
    """The raw → scored stage over a batch: every event becomes a lead or a dead letter.

    No I/O of its own: outputs go to `send` (the batch producer's queue), and the
    caller flushes, stores and commits. State lives in `state` and `recent`. With a
    `sightings_topic`, what the fraud screen saw goes there too, keyed by `worker`; with a
    `snapshots_topic`, each lead's feature snapshot, one message a `leads.scored` partition
    a chunk (`send_snapshots`).
    """

    def __init__(self, settings: Settings, config: IngestConfig, state: IngestState,
                 send: Send, *, scored_topic: str, dlq_topic: str,
                 sample: Callable[[RawMessage], None] | None = None,
                 recent: RecentLeads | None = None, sightings_topic: str | None = None,
                 worker: bytes = b"", snapshots_topic: str | None = None) -> None:
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
        # Who links to an original this worker scored, should it turn out a duplicate too.
        self.linked_to: OrderedDict[str, list[str]] = OrderedDict()
        # Re-sends of leads not in `recent`, read back from the warehouse (`resend_landed`).
        self.pending_links: PendingReads[MissedLink] = PendingReads()
        self.pending_pulls: PendingReads[FraudVerdict] = PendingReads()
        self.sightings_topic = sightings_topic
        self.worker = worker
        self.snapshots_topic = snapshots_topic
        if sightings_topic is not None:
            state.screen.share()
        # Other workers' verdicts that implicated leads this one sent (`SightingsMirror`).
        self.implicated_elsewhere: list[FraudVerdict] = []
        self._sources: dict[str, str] = {}
        self._events_in, self._leads_scored = _BySource(EVENTS_IN), _BySource(LEADS_SCORED_TOTAL)

    def source_of(self, topic: str) -> str:
        source = self._sources.get(topic)
        if source is None:
            source = self._sources[topic] = source_of(self.settings, topic)
        return source

    @property
    def pending(self) -> bool:
        """Re-sends are waiting (missed links, leads another worker's verdict implicated)."""
        return bool(self.state.missed_links or self.implicated_elsewhere)

    def score(self, messages: Sequence[RawMessage], batch: ScoredBatch | None = None
              ) -> ScoredBatch:
        """Score `messages` into `batch` (a new one by default) and return it."""
        batch = ScoredBatch() if batch is None else batch
        first = len(batch.leads)
        # One clock reading a chunk: a lead is "received" when its batch is (≤ one poll).
        received = datetime.now(UTC)
        received_ms = int(received.timestamp() * 1000)
        if self.implicated_elsewhere:
            self._pull_back(received_ms, batch)
        if self.state.missed_links:
            self.relink(received_ms, batch)
        # Step by step over the batch (`streams.ingest.score_prepared`), the same answers.
        prepared = [self._prepare(message, received) for message in messages]
        start = 0
        while start < len(messages):
            outcomes = score_prepared(prepared[start:], received=received,
                                      config=self.config, state=self.state)
            done = messages[start:start + len(outcomes)]
            for message, outcome in zip(done, outcomes, strict=True):
                self._emit(message, outcome, received_ms, batch)
                batch.offsets[(message.topic, message.partition)] = message.offset + 1
            start += len(outcomes)
            # Screened, even if it failed later: a verdict may implicate earlier leads.
            self._pull_back(received_ms, batch)
            if self.state.missed_links:  # a lead displaced an original: re-send it linked
                self.relink(received_ms, batch)
        if self.sightings_topic is not None:  # with the batch's outputs, before its commit
            # One record a chunk, not a lead: each record costs the broker and every
            # worker's mirror alike, whatever it holds.
            sightings = self.state.screen.take_sightings()
            if sightings:
                self.send(self.sightings_topic, encode(sightings), self.worker)
        if self.snapshots_topic is not None:
            self.send_snapshots(self.snapshots_topic, batch.leads[first:])
        return batch

    def send_snapshots(self, topic: str, leads: Sequence[ScoredLead]) -> None:
        """The leads' feature snapshots for the learning join, one message a partition.

        Each lands in the partition its lead has in `leads.scored` (and so in
        `leads.outcomes`): the worker that learns a lead's outcome reads its snapshot. One
        message for a chunk's leads instead of one a lead spares the learning agent Faust's
        per-event delivery, which could not keep up with the loop (BENCHMARKS.md). A re-sent
        lead (pull-back, relink) is listed again with the same features: the join keeps
        whichever came first.
        """
        partitions = self.settings.topic_partitions
        by_partition: dict[int, list[FeatureSnapshot]] = {}
        for lead in leads:
            partition = key_partition(lead.lead_id.encode(), partitions)
            by_partition.setdefault(partition, []).append(
                FeatureSnapshot(lead.lead_id, lead.features, lead.scored_ms))
        for partition, snapshots in by_partition.items():
            self.send(topic, encode(snapshots), None, None, partition)

    def _prepare(self, message: RawMessage, received: datetime) -> Prepared | Exception:
        source = self.source_of(message.topic)
        self._events_in[source].inc()
        if self.sample is not None:
            self.sample(message)
        headers = headers_of(message) if message.headers else NO_HEADERS
        try:
            return prepare(source, message.value, received=received,
                           produced_ms=int(message.timestamp * 1000), config=self.config,
                           headers=headers)
        except LeadRejected as exc:
            return without_traceback(exc)  # or its frames hold the whole chunk in a cycle
        except Exception as exc:  # a bug among them must not lose the event: `_emit` says so
            return exc

    def _emit(self, message: RawMessage, outcome: Outcome, received_ms: int,
              batch: ScoredBatch) -> None:
        """Send what became of one raw event: its scored lead, or its dead letter."""
        source = self.source_of(message.topic)
        raw = message.value
        produced_ms = int(message.timestamp * 1000)
        if isinstance(outcome, LeadRejected):
            reason, detail = outcome.reason, outcome.detail
        elif isinstance(outcome, Exception):  # a bug must not lose the event: DLQ it, loudly
            log.error("ingest failed at %s[%d]@%d", message.topic, message.partition,
                      message.offset, exc_info=outcome)
            reason, detail = INTERNAL_ERROR, f"{type(outcome).__name__}: {outcome}"
        else:
            lead = outcome
            self._leads_scored[source].inc()
            MODEL_SCORE.observe(lead.score)
            observe_scored(source, produced_ms, lead.scored_ms, quarantined=lead.quarantined,
                           duplicate=lead.duplicate_of is not None)
            value = encode(lead)
            self.send(self.scored_topic, value, lead.lead_id.encode())
            batch.leads.append(lead)
            self.recent.remember(lead, value)
            self._follows(lead)
            # A DLQ replay that now scores: flip its original dead letter to resolved.
            resolved = resolution(message, source=source, raw=raw,  # type: ignore[arg-type]
                                  lead_id=lead.lead_id, produced_ms=produced_ms,
                                  received_ms=lead.scored_ms)
            if resolved is not None:
                self.send(self.dlq_topic, encode(resolved), message.key)
            return
        DEAD_LETTERS.labels(source, reason).inc()
        # Filed under the original origin when it is a replay: one dead letter per input.
        letter = dead_letter(message, source=source, raw=raw,  # type: ignore[arg-type]
                             reason=reason, detail=detail, produced_ms=produced_ms,
                             received_ms=received_ms)
        self.send(self.dlq_topic, encode(letter), message.key)
        batch.dead_letters += 1

    def relink(self, now_ms: int, batch: ScoredBatch) -> None:
        """Re-send, linked to their originals, the missed duplicates this worker scored
        (`IngestState.missed_links`), and the duplicates it had linked to them. Those it
        does not remember wait in `pending_links` to be read back from the warehouse."""
        links, self.state.missed_links[:] = self.state.missed_links[:], []
        for link in links:
            later = link.later
            followers = self.linked_to.pop(later, ())
            if later in self.recent:
                lead = self.recent.take((later,))[0]
                if lead.duplicate_of is None:
                    self._relink(lead, link, now_ms, batch)
                else:
                    self.recent.remember(lead, encode(lead))
            else:
                # Scored by another worker (which re-sends it, if it still runs and
                # remembers it), quarantined, or forgotten: the warehouse has it.
                self.pending_links.add(later, link, now_ms)
            for follower in followers:  # linked to `later`: one hop to the original instead
                if follower in self.recent:
                    self._resend(self.recent.take((follower,))[0], link.original, now_ms, batch)

    def resend_landed(self, asked: list[str], landed: Sequence[ScoredLead], now_ms: int,
                      batch: ScoredBatch) -> None:
        """Make the pending re-sends of the `asked` leads from what the warehouse had
        (`landed`: `Warehouse.landed_leads`): pull back those still unquarantined, re-link
        those still originals. Leads that another worker linked to a re-linked lead stay
        linked to it: off sale all the same, one hop from the original (finding them
        would scan the whole table)."""
        found = {lead.lead_id for lead in landed}
        pulls = self._settle(self.pending_pulls, "fraud_pull", asked, found, now_ms)
        links = self._settle(self.pending_links, "dedupe_link", asked, found, now_ms)
        before = len(batch.leads)
        for lead in landed:
            verdict = pulls.get(lead.lead_id)
            if verdict is not None and not lead.quarantined:
                lead = quarantine_implicated(lead, verdict, now_ms)
                self._send_pulled(lead, batch)
                FRAUD_PULLED_BACK.labels("read_back").inc()
            link = links.get(lead.lead_id)
            if link is not None and lead.duplicate_of is None:  # else re-sent by its worker
                self._relink(lead, link, now_ms, batch)
        if len(batch.leads) > before:
            log.info("re-sent %d leads read back from the warehouse (%d pull-backs and %d "
                     "links settled)", len(batch.leads) - before, len(pulls), len(links))

    @staticmethod
    def _settle(pending: PendingReads[T], kind: str, asked: list[str], found: set[str],
                now_ms: int) -> dict[str, T]:
        abandoned = pending.abandoned
        settled = pending.settle(asked, found, now_ms)
        if pending.abandoned > abandoned:
            READ_BACKS_ABANDONED.labels(kind).inc(pending.abandoned - abandoned)
            log.warning("gave up %d %s re-sends: the lead had not landed after %d s",
                        pending.abandoned - abandoned, kind, pending.patience_ms // 1000)
        return settled

    def _relink(self, lead: ScoredLead, link: MissedLink, now_ms: int,
                batch: ScoredBatch) -> None:
        self._resend(lead, link.original, now_ms, batch)
        # No original any more: whoever comes next links to the earlier one.
        # Not a tombstone: every worker's merge keeps the earlier of the two.
        originals = self.state.first_lead_by_contact
        mine = f"{lead.lead_id}@"
        for key in original_keys(lead, lead.h3_r8):
            if originals.get(key, "").startswith(mine):
                originals[key] = link.original_entry

    def _resend(self, lead: ScoredLead, original: str, now_ms: int,
                batch: ScoredBatch) -> None:
        lead = msgspec.structs.replace(lead, duplicate_of=original,
                                       scored_ms=max(now_ms, lead.scored_ms + 1))
        value = encode(lead)
        self.send(self.scored_topic, value, lead.lead_id.encode())
        batch.leads.append(lead)
        self.recent.remember(lead, value)
        self._follows(lead)
        DEDUPE_RELINKED.inc()

    def _follows(self, lead: ScoredLead) -> None:
        """Note a duplicate by its original (bounded like `recent`)."""
        if lead.duplicate_of is None:
            return
        followers = self.linked_to.get(lead.duplicate_of)
        if followers is None:
            followers = self.linked_to[lead.duplicate_of] = []
            if len(self.linked_to) > self.recent.max_leads:
                self.linked_to.popitem(last=False)
        followers.append(lead.lead_id)

    def _pull_back(self, now_ms: int, batch: ScoredBatch) -> None:
        elsewhere, self.implicated_elsewhere = self.implicated_elsewhere, []
        for whose, verdicts in (("other", elsewhere),
                                ("own", self.state.screen.take_implicating())):
            for verdict in verdicts:
                for lead_id in verdict.implicated:
                    if lead_id not in self.recent:  # see `relink`: the warehouse has it
                        self.pending_pulls.add(lead_id, verdict, now_ms)
                pulled = self.recent.pull(verdict, now_ms)
                for lead in pulled:
                    self._send_pulled(lead, batch)
                if pulled:
                    FRAUD_PULLED_BACK.labels(whose).inc(len(pulled))
                    log.info("pulled back %d earlier leads of a burst (%s, %s verdict)",
                             len(pulled), "+".join(verdict.reasons), whose)

    def _send_pulled(self, lead: ScoredLead, batch: ScoredBatch) -> None:
        self.send(self.scored_topic, encode(lead), lead.lead_id.encode())
        batch.leads.append(lead)


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


class LandedLookup:
    """Reads back from the warehouse, off the loop, the leads the stage's pending re-sends
    wait for (`landed(lead_ids)`: `Warehouse.landed_leads`), and has the stage re-send
    them with the next batch."""

    def __init__(self, stage: RawStage,
                 landed: Callable[[list[str]], Awaitable[list[ScoredLead]]]) -> None:
        self.stage = stage
        self.landed = landed
        self._asked: list[str] = []
        self._task: asyncio.Future[list[ScoredLead]] | None = None

    def step(self, batch: ScoredBatch) -> None:
        """Re-send into `batch` what the last lookup found; start the next one when due."""
        now_ms = int(time.time() * 1000)
        task = self._task
        if task is not None:
            if not task.done():
                return
            self._task = None
            try:
                landed = task.result()
            except Exception as exc:  # the warehouse is down, or a row does not decode
                log.warning("could not read back %d leads to re-send: %s", len(self._asked), exc)
                landed = []  # as if not landed yet: tried again, given up past the patience
            self.stage.resend_landed(self._asked, landed, now_ms, batch)
        stage = self.stage
        asked = sorted({*stage.pending_links.due(now_ms), *stage.pending_pulls.due(now_ms)})
        if asked:
            self._asked = asked
            self._task = asyncio.ensure_future(self.landed(asked))

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def run_batches(source: BatchSource, stage: RawStage,
                      store: Callable[[list[ScoredLead]], Awaitable[None]],
                      to_message: Callable[[Any], RawMessage] = RawMessage.of,
                      batches: int | None = None, queued: int = STORE_QUEUE_EVENTS,
                      refresh: Callable[[], object] | None = None,
                      landed: Callable[[list[str]], Awaitable[list[ScoredLead]]] | None = None,
                      ) -> None:
    """poll → score → (flush ‖ store) → commit, forever (or `batches` non-empty batches).

    `refresh()` runs before each batch is scored (the mirrors: other workers' dedupe
    originals and fraud sightings). `landed(lead_ids)` reads leads back from the
    warehouse for the re-links of leads this worker does not remember (`LandedLookup`).

    Scoring never waits for the sinks: a scored batch is queued (up to `queued` raw events
    in all, then the loop waits: backpressure while a sink is down) for one storer task,
    which stores and commits in order, one store at a time, so sinks see batches in order
    and commits only ever move forward; batches that queued up meanwhile go out together.
    Leads reach `leads.scored`, and so Redis, when the storer flushes their batch or the
    producer's linger (200 ms) sends them, whichever comes first (a short flush as soon
    as a batch is scored did not shorten p99 → Redis: BENCHMARKS.md). Scoring yields to
    the event loop every `CHUNK_EVENTS` events so that the I/O of the batches being
    stored (and Faust's other agents) keep moving.
    """
    queue = StoreQueue(queued)
    storer = asyncio.ensure_future(_store_in_order(source, store, queue))
    lookup = None if landed is None else LandedLookup(stage, landed)
    done = 0
    try:
        while batches is None or done < batches:
            if storer.done():
                await storer  # surfaces a failure
            polled = await source.poll()
            if refresh is not None:
                refresh()
            batch = ScoredBatch()
            if lookup is not None:
                lookup.step(batch)
            if not polled:
                if stage.pending or batch.leads:  # quiet: re-send them now, not later
                    await _unless_failed(queue.put(stage.score((), batch), 0), storer)
                continue
            for start in range(0, len(polled), CHUNK_EVENTS):
                stage.score([to_message(m) for m in polled[start:start + CHUNK_EVENTS]], batch)
                await asyncio.sleep(0)
            await _unless_failed(queue.put(batch, len(polled)), storer)
            done += 1
        queue.close()
        await storer
    finally:
        if lookup is not None:
            lookup.cancel()
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
    if batch.offsets:
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
    landed: Callable[[list[str]], Awaitable[list[ScoredLead]]] | None = None,
) -> BatchConsumer:
    """Declare the dedupe table and start the batch loop as a Faust task.

    `store(leads)` puts a batch's leads into every sink and returns once they are all
    stored; `landed(lead_ids)` reads leads back from the warehouse
    (`Warehouse.landed_leads`); `sample` sees every raw message (the drift sensor).
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
    # Every worker reads the whole dedupe table, not only the partitions Faust gave it:
    # a lead's original may have been scored by another worker (infra.kafka.mirror).
    state = IngestState(scorer=scorer, screen=screen, first_lead_by_contact=originals,
                        stores=stores)
    merged = OriginalsMirror(originals.data, config.dedupe_window,
                             state.missed_links)
    mirror = TopicMirror(settings.kafka_bootstrap, originals.topic, merged.apply)
    stage = RawStage(settings, config, state, consumer.produce,
                     scored_topic=settings.topic(LEADS_SCORED),
                     dlq_topic=settings.topic(LEADS_DLQ), sample=sample,
                     sightings_topic=settings.topic(FRAUD_SIGHTINGS),
                     snapshots_topic=settings.topic(LEADS_SNAPSHOTS),
                     worker=uuid.uuid4().hex.encode())
    # Every worker's sightings of the screen's longest memory (two contact windows).
    sightings = TopicMirror(settings.kafka_bootstrap, settings.topic(FRAUD_SIGHTINGS),
                            SightingsMirror(stage).apply, client_id="aiqleads-sightings")
    memory_ms = 2 * max(screen.limits.contact_window_ms, screen.limits.ip_window_ms)

    def refresh() -> None:
        mirror.refresh()
        sightings.refresh()

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
        await asyncio.to_thread(mirror.start)
        await mirror.catch_up()
        await asyncio.to_thread(sightings.start, int(time.time() * 1000) - memory_ms)
        await sightings.catch_up()
        consumer.start()
        try:
            await run_batches(consumer, stage, store, refresh=refresh, landed=landed)
        finally:
            consumer.close()
            mirror.close()
            sightings.close()

    return consumer
