"""Delayed-label learning: join each outcome to the feature snapshot taken at scoring time.

The raw loop sends each scored lead's feature snapshot on `leads.snapshots`, in the
partition the lead has in `leads.scored` (keyed by `lead_id`, one message listing a chunk's
leads of a partition), and `leads.outcomes` is keyed by `lead_id` with the same partition
count, so a lead's snapshot and its outcome meet in the same worker.
Either may arrive first; both sides are Faust tables with changelogs, so a
restart keeps the pending half of every join. Every joined outcome is learned by
both arms of the scorer (each first predicts it for its progressive metrics), from
the snapshot taken when the lead was scored; `streams.scoring.labels.judge` decides,
and outcomes of expired or unknown leads are counted (`aiq_outcomes_dropped_total`)
and dropped, never learned.

A lesson is acknowledged (and its join forgotten) only after the next scorer checkpoint
(`agents.lessons`): a worker killed before that learns it again after the restart, and a
lead learned and checkpointed is marked learned, so a replay never teaches it twice.
Once an hour (`AIQ_JOIN_SWEEP_SECONDS`) `forget_outlived_joins` forgets the halves no
outcome can use any more (`agents.lessons.forget_outlived`): without it the snapshot table
grew by every lead.
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust
import msgspec

from agents.decoding import origin
from agents.lessons import HeldLessons, acked_when_stored, forget_outlived, is_learned
from agents.partitioning import key_partition
from agents.persist import Changelogged
from agents.topics import Topics
from infra.kafka.batch import BatchConsumer as BatchProducer
from infra.metrics import OUTCOMES_DROPPED, OUTCOMES_LEARNED, OUTCOMES_WAITING, SNAPSHOTS_KEPT
from infra.settings import Settings
from schemas.codec import outcome_decoder, snapshots_decoder
from schemas.lead import FeatureSnapshot
from schemas.outcome import Outcome
from streams.scoring.arms import Scorer
from streams.scoring.labels import Snapshot, delay_s, from_stored, judge, stored

log = logging.getLogger(__name__)


REMEMBER_BATCH = 1000
# Snapshot messages a step: each lists ~25 leads (a chunk's of one partition), so 40 are
# ~1,000 leads, ~10 ms of the event loop; 1,000 of them while catching up held it ~250 ms.
SNAPSHOT_MESSAGES = 40
REMEMBER_WITHIN = 0.5  # seconds: an outcome rarely follows its lead by less


class Learning:
    """The join's tables and the lessons held until the scorer's next checkpoint."""

    def __init__(self, lessons: HeldLessons, producer: BatchProducer) -> None:
        self.lessons = lessons
        self.producer = producer
        self._acking: set[asyncio.Future[None]] = set()

    def pending(self) -> bool:
        return len(self.lessons) > 0

    def release(self) -> None:
        """Right after a checkpoint (`agents.models.register(on_saved=...)`): mark the held
        lessons learned, and ack their messages once the marks are stored."""
        events = self.lessons.release(int(time.time() * 1000))
        if not events:
            return
        acking = asyncio.ensure_future(acked_when_stored(events, self.producer.flush))
        self._acking.add(acking)
        acking.add_done_callback(self._acking.discard)


def register(app: faust.App, topics: Topics, settings: Settings, scorer: Scorer, *,
             producer: BatchProducer) -> Learning:
    """The join agents. Their changelog records (snapshots, waiting outcomes, deletes and
    marks) all go through the worker's batch producer (`agents.persist.Changelogged`): two
    producers on one changelog could land a delete before the write it undoes. The caller
    passes `Learning.release` to the scorer's checkpoints."""
    features_by_lead = app.Table(
        "features_by_lead",
        key_type=str,  # values: plain JSON in the changelog (a dict of floats)
        partitions=settings.topic_partitions,
        help="Feature snapshots (and scoring times) of scored leads waiting for an outcome; "
             "learned leads keep a mark",
    )
    outcome_by_lead = app.Table(
        "outcome_by_lead",
        key_type=str,  # values: the outcome's JSON text, decoded when its snapshot arrives
        partitions=settings.topic_partitions,
        help="Outcomes that arrived before their lead's snapshot",
    )
    # Each record goes to the partition of the event that wrote it, as Faust would (the
    # tables are co-partitioned with leads.scored and leads.outcomes by lead_id).
    features = Changelogged(features_by_lead, producer.produce)
    waiting_outcomes = Changelogged(outcome_by_lead, producer.produce)
    lessons = HeldLessons(features, waiting_outcomes)
    learning = Learning(lessons, producer)

    def learn(snapshot: Snapshot, outcome: Outcome) -> bool:
        now_ms = int(time.time() * 1000)
        verdict = judge(snapshot, outcome.occurred_ms, now_ms)
        if verdict != "learn":
            OUTCOMES_DROPPED.labels(verdict).inc()
            return False
        scorer.learn_one(snapshot.features, outcome.converted, at_ms=now_ms,
                         delay_s=delay_s(snapshot, outcome.occurred_ms))
        for arm in scorer.arms:
            OUTCOMES_LEARNED.labels(arm).inc()
        return True

    def learned_already(lead_id: str) -> bool:
        """Held (learned since the last checkpoint) or marked (checkpointed)."""
        return lead_id in lessons or is_learned(features.get(lead_id))

    @app.agent(topics.snapshots, name="remember_features")
    async def remember_features(stream: faust.StreamT[bytes]) -> None:
        # Each message lists a raw chunk's leads of one partition (`RawStage.send_snapshots`).
        async for events in stream.take_events(SNAPSHOT_MESSAGES, within=REMEMBER_WITHIN):
            for event in events:
                try:
                    snapshots = snapshots_decoder.decode(event.value)
                except msgspec.DecodeError as exc:
                    log.error("undecodable feature snapshots at %s: %s",
                              origin(event.message), exc)
                    continue
                for scored in snapshots:
                    remember(event, scored)
            # Stored before the batch is acked (Faust flushes only its own producer).
            await producer.flush()

    def remember(event: faust.EventT, scored: FeatureSnapshot) -> None:
        if scored.lead_id in features or scored.lead_id in lessons:
            return  # kept, learned (a mark) or held: a replay or a re-sent lead
        snapshot = Snapshot(scored.features, scored.scored_ms)
        partition = event.message.partition
        waiting = waiting_outcomes.get(scored.lead_id)
        if waiting is None:
            features.set(scored.lead_id, stored(snapshot), partition)
        elif learn(snapshot, outcome_decoder.decode(waiting)):
            # The waiting outcome stays until the checkpoint releases the lesson.
            lessons.hold(event, scored.lead_id, partition)
        else:
            waiting_outcomes.delete(scored.lead_id, partition)
            OUTCOMES_WAITING.set(len(outcome_by_lead))

    @app.agent(topics.outcomes, name="learn_outcomes")
    async def learn_outcomes(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(REMEMBER_BATCH, within=REMEMBER_WITHIN):
            for event in events:
                join_outcome(event)
            await producer.flush()  # stored before the batch is acked

    def join_outcome(event: faust.EventT) -> None:
        try:
            outcome = outcome_decoder.decode(event.value)
        except msgspec.DecodeError as exc:
            log.error("undecodable outcome skipped for learning at %s: %s",
                      origin(event.message), exc)
            return
        lead_id = outcome.lead_id
        if learned_already(lead_id):
            OUTCOMES_DROPPED.labels("learned").inc()  # a replay, or a second outcome
            return
        partition = event.message.partition
        kept = features.get(lead_id)
        if kept is not None:
            if learn(from_stored(kept), outcome):
                lessons.hold(event, lead_id, partition)  # the snapshot stays until then
            else:
                features.delete(lead_id, partition)
        elif judge(None, outcome.occurred_ms, int(time.time() * 1000)) == "unknown":
            OUTCOMES_DROPPED.labels("unknown").inc()
        else:
            waiting_outcomes.set(lead_id, event.value.decode(), partition)
            OUTCOMES_WAITING.set(len(outcome_by_lead))

    outcomes_topic = topics.outcomes.get_topic_name()
    SNAPSHOTS_KEPT.set_function(lambda: len(features_by_lead))

    # Snapshots are kept a month and an hour (`streams.scoring.labels.KEEP_MS`), waiting
    # outcomes an hour: an hourly sweep keeps either at most an hour past that.
    @app.timer(settings.join_sweep_seconds)
    async def forget_outlived_joins() -> None:
        # Both tables are co-partitioned with leads.outcomes (and leads.snapshots) by lead_id.
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == outcomes_topic}
        forgotten = await forget_outlived(
            features, waiting_outcomes, int(time.time() * 1000),
            partition_of=lambda lead_id: key_partition(lead_id.encode(),
                                                       settings.topic_partitions),
            owned=owned, held=lessons,
            occurred_ms=lambda text: outcome_decoder.decode(text).occurred_ms)
        if forgotten.outcomes:
            OUTCOMES_DROPPED.labels("unknown").inc(forgotten.outcomes)
        OUTCOMES_WAITING.set(len(outcome_by_lead))
        if forgotten.snapshots or forgotten.outcomes:
            await producer.flush()
            log.info("forgot %d outlived snapshots and %d unclaimed outcomes",
                     forgotten.snapshots, forgotten.outcomes)

    return learning
