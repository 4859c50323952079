"""`serve_leads` keeps lead rankings in Redis; `learn_interactions` learns what buyers do.

- `serve_leads` reads `leads.scored` in its own consumer group, `<app id>-serve`, with the
  batched confluent-kafka consumer (`infra.kafka.batch`): poll up to `ingest_batch_max`
  scored leads → place them in Redis (`Server.serve`) → commit. Each lead becomes a
  placement (card, cell ranking, the rankings of its candidate buyers by expected value)
  or, when it is not sellable (quarantined, duplicate, unlocated), a removal, so a lead
  re-scored as quarantined (a pull-back: same key, later offset) leaves the rankings it
  was in. One Redis pipeline per batch; a batch leaves as soon as it is polled.
  Serving is a group of its own, not a step of the raw → scored loop, so that Redis
  going down stops only serving: the warehouse keeps landing (the raw loop commits
  after the broker and ClickHouse stored a batch), and serving catches up from its
  committed offset when Redis is back (fault scenario E4). The hop costs one decode and
  one fetch (~20 ms) a lead.
- `learn_interactions` consumes `buyer.interactions`: each interaction teaches the
  recommender (the lead's segment comes from Redis, where `serve_leads` left it), and
  a purchase takes the lead out of every ranking for good (a tombstone keeps a replayed
  scored lead from coming back).

Offsets are committed (the serve loop) or acked (the agent) only after the batch is
written; a failed Redis write is retried with backoff (consumption pauses meanwhile),
and replays are harmless because every Redis op is idempotent.

The recommender lives in this process; the worker checkpoints it (`RECO_CHECKPOINT`)
with its other models. Its affinities come from the interactions this worker
consumes (keyed by buyer_id): with several workers, a buyer's affinity is known on the
worker that owns the buyer's partition and neutral (1.0) on the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

import faust
import msgspec
from confluent_kafka import Message
from redis.exceptions import RedisError

from agents.decoding import DECODE_ERRORS, decode_all
from agents.topics import Topics
from infra.kafka.batch import BatchConsumer
from infra.metrics import observe_sink_batch
from infra.redis_store import RedisRankings
from infra.settings import Settings
from schemas.codec import scored_lead_decoder
from schemas.contract import LEADS_SCORED
from schemas.lead import ScoredLead
from schemas.market import BuyerInteraction
from streams.serve.ranking import SOLD, BuyerIndex, Removal, serve_op
from streams.serve.recommender import Recommender

log = logging.getLogger(__name__)

RECO_CHECKPOINT = "recommender"
SERVE_BATCH = 500
SERVE_WITHIN = 0.2  # seconds: a lead waits at most this long for its batch
_MAX_BACKOFF = 30.0
T = TypeVar("T")

interaction_decoder = msgspec.json.Decoder(BuyerInteraction)


async def until_done(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """Retry `call` with backoff until Redis takes it (backpressure instead of loss)."""
    backoff = 0.5
    while True:
        try:
            return await call()
        except (RedisError, OSError) as exc:
            log.error("%s failed (%s); retrying in %.1fs", what, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)


class Server:
    """Places a batch of scored leads in Redis, retrying until Redis took it."""

    def __init__(self, settings: Settings, rankings: RedisRankings, index: BuyerIndex,
                 recommender: Recommender) -> None:
        self.rankings = rankings
        self.index = index
        self.recommender = recommender
        self.half_life = settings.score_half_life_hours
        self._started = False

    async def serve(self, leads: list[ScoredLead]) -> None:
        if not self._started:
            await until_done("Redis connect", self.rankings.start)
            self._started = True
        ops = [serve_op(lead, self.index, self.recommender, self.half_life) for lead in leads]
        if ops:
            started = time.perf_counter()
            await until_done(f"ranking {len(ops)} leads", partial(self.rankings.apply, ops))
            observe_sink_batch("redis_rankings", len(ops), time.perf_counter() - started,
                               int(time.time() * 1000), [lead.produced_ms for lead in leads],
                               stage="served")


def decode_scored(messages: Sequence[Message]) -> tuple[list[ScoredLead],
                                                        dict[tuple[str, int], int]]:
    """The leads of a polled batch and the offsets to commit after them; a foreign value
    is logged with its origin and skipped (it is committed past: it can never serve)."""
    leads: list[ScoredLead] = []
    offsets: dict[tuple[str, int], int] = {}
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        offsets[(topic, partition)] = offset + 1
        try:
            leads.append(scored_lead_decoder.decode(message.value() or b""))
        except DECODE_ERRORS as exc:
            log.error("undecodable value at %s[%d]@%d: %s", topic, partition, offset, exc)
    return leads, offsets


class ScoredSource(Protocol):
    """What the serve loop needs of a batched consumer (`infra.kafka.batch.BatchConsumer`)."""

    async def poll(self) -> Sequence[Any]: ...
    async def commit(self, offsets: dict[tuple[str, int], int]) -> None: ...


def serve_consumer(settings: Settings) -> BatchConsumer:
    return BatchConsumer(
        settings.kafka_bootstrap, f"{settings.topic_prefix}{settings.app_id}-serve",
        [settings.topic(LEADS_SCORED)], max_messages=settings.ingest_batch_max,
        # No `resume_from`: a serve group without offsets (new, or its worker never reached
        # Redis) starts at the topic's beginning, never where Faust's group got to (it read
        # leads.scored for learning until 2026-12; resuming there skipped unserved leads).
        poll_timeout=settings.ingest_poll_seconds, client_id="aiqleads-serve")


async def serve_batches(source: ScoredSource, server: Server, stopping: asyncio.Event) -> None:
    """poll → place in Redis → commit, until `stopping` is set.

    The next poll runs (on the consumer's thread) while a batch is placed: in a worker
    whose event loop is busy scoring, each await is a wait for a turn of the loop, and a
    poll that starts only after the commit made every lead wait for one more of them.
    A prefetched batch is committed only after it too was placed."""
    pending = asyncio.ensure_future(source.poll())
    try:
        while not stopping.is_set():
            polled = await pending
            pending = asyncio.ensure_future(source.poll())
            if not polled:
                continue
            leads, offsets = decode_scored(polled)
            if leads:
                await server.serve(leads)
            await source.commit(offsets)
    finally:
        pending.cancel()


def register(app: faust.App, topics: Topics, settings: Settings, rankings: RedisRankings,
             index: BuyerIndex, recommender: Recommender) -> Server:
    """`serve_leads` over `leads.scored` (its own group) and `learn_interactions`."""
    server = Server(settings, rankings, index, recommender)
    consumer = serve_consumer(settings)
    stopping = asyncio.Event()

    @app.task
    async def serve_leads() -> None:
        consumer.start()
        try:
            await serve_batches(consumer, server, stopping)
        finally:
            consumer.close()

    @app.on_before_shutdown.connect
    def stop_serving(app: faust.App, **_: object) -> None:
        # A cancel can be swallowed inside redis-py's retries; the loop checks this instead.
        stopping.set()

    @app.agent(topics.interactions, name="learn_interactions")
    async def learn_interactions(stream: faust.StreamT[bytes]) -> None:
        await until_done("Redis connect", rankings.start)
        async for events in stream.take_events(SERVE_BATCH, within=SERVE_WITHIN):
            interactions: list[BuyerInteraction] = decode_all(events, interaction_decoder.decode)
            if not interactions:
                continue
            lead_ids = list({i.lead_id for i in interactions})
            # Read before the purchases below remove anything (segments outlive sales anyway).
            segments = await until_done("segment lookup", partial(rankings.segments, lead_ids))
            for i in interactions:
                segment_id = segments.get(i.lead_id)
                if segment_id is not None:  # unknown once the lead's keys expired
                    recommender.learn_one(i.buyer_id, segment_id, i.kind)
            sold = [Removal(i.lead_id, SOLD) for i in interactions if i.kind == "purchase"]
            if sold:
                await until_done(f"removing {len(sold)} sold leads", partial(rankings.apply, sold))

    return server
