"""Delayed-label learning: join each outcome to the feature snapshot taken at scoring time.

`leads.scored` and `leads.outcomes` are both keyed by `lead_id` with the same
partition count, so a lead's snapshot and its outcome meet in the same worker.
Either may arrive first; both sides are Faust tables with changelogs, so a
restart keeps the pending half of every join. Every joined outcome is learned by
both arms of the scorer (each first predicts it for its progressive metrics), from
the snapshot taken when the lead was scored; `streams.scoring.labels.judge` decides,
and outcomes of expired or unknown leads are counted (`aiq_outcomes_dropped_total`)
and dropped, never learned.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
import msgspec

from agents.decoding import origin
from agents.persist import Changelogged
from agents.topics import Topics
from infra.kafka.batch import BatchConsumer as BatchProducer
from infra.metrics import OUTCOMES_DROPPED, OUTCOMES_LEARNED, OUTCOMES_WAITING
from infra.settings import Settings
from schemas.codec import outcome_decoder
from schemas.outcome import Outcome
from streams.scoring.arms import Scorer
from streams.scoring.labels import Snapshot, delay_s, from_stored, judge, stored

log = logging.getLogger(__name__)


class _Snapshot(msgspec.Struct, frozen=True):
    """The slice of a scored lead that learning needs (decoding skips the rest)."""

    lead_id: str
    features: dict[str, float]
    scored_ms: int = 0


_snapshot_decoder = msgspec.json.Decoder(_Snapshot)
REMEMBER_BATCH = 1000
REMEMBER_WITHIN = 0.5  # seconds: an outcome rarely follows its lead by less


def register(app: faust.App, topics: Topics, settings: Settings, scorer: Scorer, *,
             producer: BatchProducer | None = None) -> None:
    """`producer`: write `remember_features`' changelog records through the worker's batch
    producer (`agents.persist.Changelogged`) instead of one Faust send per lead."""
    features_by_lead = app.Table(
        "features_by_lead",
        key_type=str,  # values: plain JSON in the changelog (a dict of floats)
        partitions=settings.topic_partitions,
        help="Feature snapshots (and scoring times) of scored leads waiting for an outcome",
    )
    outcome_by_lead = app.Table(
        "outcome_by_lead",
        key_type=str,  # values: the outcome's JSON text, decoded when its snapshot arrives
        partitions=settings.topic_partitions,
        help="Outcomes that arrived before their lead's snapshot",
    )

    def learn(snapshot: Snapshot, outcome: Outcome) -> None:
        now_ms = int(time.time() * 1000)
        verdict = judge(snapshot, outcome.occurred_ms, now_ms)
        if verdict != "learn":
            OUTCOMES_DROPPED.labels(verdict).inc()
            return
        scorer.learn_one(snapshot.features, outcome.converted, at_ms=now_ms,
                         delay_s=delay_s(snapshot, outcome.occurred_ms))
        for arm in scorer.arms:
            OUTCOMES_LEARNED.labels(arm).inc()

    @app.agent(topics.scored, name="remember_features")
    async def remember_features(stream: faust.StreamT[bytes]) -> None:
        if producer is None:
            async for raw in stream:
                scored = _snapshot_decoder.decode(raw)
                snapshot = Snapshot(scored.features, scored.scored_ms)
                waiting = outcome_by_lead.pop(scored.lead_id, None)
                if waiting is not None:
                    learn(snapshot, outcome_decoder.decode(waiting))
                    OUTCOMES_WAITING.set(len(outcome_by_lead))
                else:
                    features_by_lead[scored.lead_id] = stored(snapshot)
            return
        # Batches: one wake-up per batch instead of per lead. Each record goes to the
        # partition of the event that wrote it, as Faust would (the tables are
        # co-partitioned with leads.scored and leads.outcomes by lead_id).
        features = Changelogged(features_by_lead, producer.produce)
        waiting_outcomes = Changelogged(outcome_by_lead, producer.produce)
        async for events in stream.take_events(REMEMBER_BATCH, within=REMEMBER_WITHIN):
            for event in events:
                try:
                    scored = _snapshot_decoder.decode(event.value)
                except msgspec.DecodeError as exc:
                    log.error("undecodable scored lead at %s: %s", origin(event.message), exc)
                    continue
                snapshot = Snapshot(scored.features, scored.scored_ms)
                partition = event.message.partition
                waiting = waiting_outcomes.get(scored.lead_id)
                if waiting is not None:
                    waiting_outcomes.delete(scored.lead_id, partition)
                    learn(snapshot, outcome_decoder.decode(waiting))
                    OUTCOMES_WAITING.set(len(outcome_by_lead))
                else:
                    features.set(scored.lead_id, stored(snapshot), partition)
            # Stored before the batch is acked (Faust flushes only its own producer).
            await producer.flush()

    @app.agent(topics.outcomes, name="learn_outcomes")
    async def learn_outcomes(stream: faust.StreamT[bytes]) -> None:
        if producer is None:
            async for event in stream.events():
                join_outcome(event, features_by_lead, outcome_by_lead, -1)
            return
        # The join's deletes and waits go through the same producer as `remember_features`'
        # writes: two producers on one changelog could land a delete before the write it
        # undoes, and a restart would then join (and learn) a replayed outcome again.
        features = Changelogged(features_by_lead, producer.produce)
        waiting_outcomes = Changelogged(outcome_by_lead, producer.produce)
        async for events in stream.take_events(REMEMBER_BATCH, within=REMEMBER_WITHIN):
            for event in events:
                join_outcome(event, features, waiting_outcomes, event.message.partition)
            await producer.flush()  # stored before the batch is acked

    def join_outcome(event: faust.EventT, features: Any, waiting: Any, partition: int) -> None:
        try:
            outcome = outcome_decoder.decode(event.value)
        except msgspec.DecodeError as exc:
            log.error("undecodable outcome skipped for learning at %s: %s",
                      origin(event.message), exc)
            return
        kept = features.get(outcome.lead_id)
        if kept is not None:
            _delete(features, outcome.lead_id, partition)
            learn(from_stored(kept), outcome)
        elif judge(None, outcome.occurred_ms, int(time.time() * 1000)) == "unknown":
            OUTCOMES_DROPPED.labels("unknown").inc()
        else:
            _set(waiting, outcome.lead_id, event.value.decode(), partition)
            OUTCOMES_WAITING.set(len(outcome_by_lead))




def _delete(table: Any, key: str, partition: int) -> None:
    if isinstance(table, Changelogged):
        table.delete(key, partition)
    else:
        del table[key]


def _set(table: Any, key: str, value: str, partition: int) -> None:
    if isinstance(table, Changelogged):
        table.set(key, value, partition)
    else:
        table[key] = value
