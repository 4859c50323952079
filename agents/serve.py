"""`serve_leads` keeps lead rankings in Redis; `learn_interactions` learns what buyers do.

- `Server.serve` places the batch the raw → scored loop (`agents/ingest.py`) just scored,
  before that loop commits: each lead becomes a placement (card, cell ranking, the
  rankings of its candidate buyers by expected value) or, when it is not sellable
  (quarantined, duplicate, unlocated), a removal, so a lead re-scored as quarantined
  leaves the rankings it was in. One Redis pipeline per batch; a batch leaves as soon as
  it is scored (≤ one poll, 50 ms, after its first lead arrived), never waiting to fill.
- `learn_interactions` consumes `buyer.interactions`: each interaction teaches the
  recommender (the lead's segment comes from Redis, where `serve_leads` left it), and
  a purchase takes the lead out of every ranking for good (a tombstone keeps a replayed
  scored lead from coming back).

Offsets are committed (ingest loop) or acked (the agent) only after the batch is
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
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import faust
import msgspec
from redis.exceptions import RedisError

from agents.decoding import decode_all
from agents.topics import Topics
from infra.metrics import observe_sink_batch
from infra.redis_store import RedisRankings
from infra.settings import Settings
from schemas.codec import scored_lead_decoder
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
    """Places a batch of scored leads in Redis: called by the raw → scored loop with the
    batch it scored (no second decode, no `leads.scored` hop), before it commits."""

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


def register(app: faust.App, topics: Topics, settings: Settings, rankings: RedisRankings,
             index: BuyerIndex, recommender: Recommender, *,
             from_scored_topic: bool = True) -> Server:
    """`learn_interactions`, and `serve_leads` over `leads.scored` unless the caller serves
    the batches it scores itself (the worker: `from_scored_topic=False`). The agent is
    the way to rebuild Redis from the topic, and what tests that produce scored leads use."""
    server = Server(settings, rankings, index, recommender)

    if from_scored_topic:
        @app.agent(topics.scored, name="serve_leads")
        async def serve_leads(stream: faust.StreamT[bytes]) -> None:
            async for events in stream.take_events(SERVE_BATCH, within=SERVE_WITHIN):
                leads = decode_all(events, scored_lead_decoder.decode)
                if leads:
                    await server.serve(leads)

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
