"""Assemble one worker process: app, topics, agents, warehouse, scorer and web views."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents import behaviour, drift, health, ingest, land, learn, market, models, ready, serve
from agents.app import build_app
from agents.land import WarehouseGate
from agents.persist import restore_when_recovered
from agents.topics import Topics, declare_topics
from infra.checkpoints import CheckpointFile, CheckpointWriteError
from infra.kafka.admin import ensure_topics
from infra.redis_store import RedisRankings
from infra.settings import Settings
from infra.warehouse import open_warehouse
from infra.warehouse.query import result_to_json
from streams.features.build import FeatureStores, feature_stores
from streams.features.competitors import load_competitors
from streams.fraud.screen import FraudScreen
from streams.parse.registry import warm as warm_parsers
from streams.scoring.arms import Scorer
from streams.serve.ranking import BuyerIndex, load_buyers
from streams.serve.recommender import Recommender

log = logging.getLogger(__name__)

SCREEN_CHECKPOINT = "fraud_screen"
# Reference counting frees what a lead allocates: over 20,000 leads of the fused ingest
# stage the collector found no cyclic garbage at all, yet at the default thresholds
# (700, 10, 10) it ran ~680 young, ~60 middle and some full passes, 17-21 µs a lead,
# frozen start-up objects or not (`python -m tests.bench.bench_ingest --gc
# default|freeze|worker`). At (20_000, 20, 100): ~24 young passes (~2.5 ms) and one
# middle (~0.1 s) per 20,000 leads, ~8 µs a lead; cyclic garbage elsewhere waits longer.
# The whole worker (decodes, batches, stores of millions of objects) was measured at
# these values against the defaults only: pipeline bench, chdb, 1 worker, alternating
# runs, 1,243-1,566 leads/s -> 1,775-2,042.
GC_THRESHOLD = (50_000, 50, 100)
T = TypeVar("T")
_METRICS_MEDIA_TYPE = CONTENT_TYPE_LATEST.split("; charset")[0]


@dataclass
class Worker:
    app: faust.App
    topics: Topics
    scorer: Scorer
    gate: WarehouseGate


def checkpoint_file(settings: Settings, name: str) -> CheckpointFile:
    return CheckpointFile.in_dir(settings.state_dir / "models", f"{settings.topic_prefix}{name}")


def load_screen(settings: Settings) -> FraudScreen:
    """The fraud screen with its velocity state and anomaly model, resumed if checkpointed."""
    restored = checkpoint_file(settings, SCREEN_CHECKPOINT).load(FraudScreen.loads)
    if restored is None:
        return FraudScreen(threshold=settings.fraud_quarantine_threshold, seed=settings.model_seed)
    restored.threshold = settings.fraud_quarantine_threshold  # settings win over the checkpoint
    return restored


def feature_stores_for(settings: Settings, *, seeded: bool = False) -> FeatureStores:
    """Empty feature stores sized by the settings; `seeded` adds the competitor offices
    now (the worker's `market.register` seeds them itself, under the topic's updates)."""
    return feature_stores(
        session_gap_minutes=settings.session_gap_minutes,
        density_window_hours=settings.density_window_hours,
        competitor_radius_km=settings.competitor_radius_km,
        market_half_life_hours=settings.market_half_life_hours,
        offices=load_competitors(settings.competitors_file) if seeded else None,
    )


def build_worker(settings: Settings) -> Worker:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = build_app(settings)
    topics = declare_topics(app, settings)
    scorer = models.load_scorer(settings)
    screen = load_screen(settings)
    gate = WarehouseGate(open_warehouse(settings))

    recommender = (checkpoint_file(settings, serve.RECO_CHECKPOINT).load(Recommender.loads)
                   or Recommender(seed=settings.model_seed))

    # Feature stores live in memory, written behind into changelogged tables.
    stores = feature_stores_for(settings)
    behinds = [behaviour.register(app, topics, settings, stores.behaviour),
               *market.register(app, topics, settings, stores.market)]
    restore_when_recovered(app, behinds)

    land.register(app, topics, settings, gate)
    sensor = drift.register(app, topics, settings)
    health.register(app, settings, scorer, gate)  # model_metrics once a minute
    serve.register(app, topics, settings, RedisRankings.from_settings(settings),
                   BuyerIndex(load_buyers(settings.buyers_file)), recommender)

    def sample(message: ingest.RawMessage) -> None:
        sensor.sample(message.topic, message.partition, message.offset, message.value)

    batches = ingest.register(app, topics, settings, scorer, screen,
                              store=partial(land.land_leads, gate),
                              landed=partial(land.landed_leads, gate),
                              stores=stores.all, behinds=behinds, sample=sample)
    # Every table this process writes in bulk changelogs through the batch producer.
    for behind in behinds:
        behind.changelog_through(batches.produce)
    learning = learn.register(app, topics, settings, scorer, producer=batches)
    # Its own checkpoints, promotion rule, /models; each checkpoint releases the lessons
    # learned before it (their outcome offsets are committed only then: agents.lessons).
    models.register(app, settings, scorer, on_saved=learning.release, pending=learning.pending)

    writing = threading.Lock()  # a timer's write and the one at shutdown share the files

    def dump(screen_blob: bytes | None = None) -> list[tuple[CheckpointFile, bytes]]:
        return [(checkpoint_file(settings, SCREEN_CHECKPOINT), screen_blob or screen.dumps()),
                (checkpoint_file(settings, serve.RECO_CHECKPOINT), recommender.dumps())]

    def write(dumped: list[tuple[CheckpointFile, bytes]]) -> None:
        with writing:
            try:
                for file, blob in dumped:
                    file.save(blob)
            except CheckpointWriteError as exc:  # keep running on the last good one; /readyz
                log.error("%s", exc)

    @app.on_before_shutdown.connect
    def stop(app: faust.App, **_: object) -> None:
        write(dump())

    @app.timer(settings.checkpoint_seconds)
    async def checkpoint_models() -> None:
        # Dumped on the loop, the screen in steps of ~5 ms (`FraudScreen.dump_steps`);
        # checksummed, written and fsynced (the screen's ~13 MB: 100-300 ms while the
        # broker writes its logs) on a thread, which keeps the loop moving meanwhile.
        dumped = dump(await in_steps(screen.dump_steps()))
        await asyncio.get_running_loop().run_in_executor(None, write, dumped)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            # aiohttp takes the charset separately from the media type.
            return self.bytes(generate_latest(), content_type=_METRICS_MEDIA_TYPE)

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok", "model": scorer.champion.model.version})

    ready.register(app, settings, gate)  # /readyz, and the dependency gauges on a timer

    @app.page("/warehouse/sql")
    class WarehouseSql(View):
        """The embedded warehouse belongs to this process; `aiqleads sql` queries it here."""

        async def post(self, request: Request) -> Response:
            query = (await request.read()).decode()
            try:
                result = await gate.call(gate.warehouse.query, query)
            except Exception as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json(result_to_json(result))

    return Worker(app=app, topics=topics, scorer=scorer, gate=gate)


async def in_steps(steps: Generator[None, None, T]) -> T:
    """Run a generator's steps with a turn of the event loop between them; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await asyncio.sleep(0)


def run_worker(settings: Settings) -> None:
    worker = build_worker(settings)
    # Before any agent runs: the topics exist with the partitioning the joins rely on,
    # and the warehouse tables exist.
    ensure_topics(settings)
    warm_parsers()
    # Start-up objects (place data, models, offices) live forever: keep them out of the
    # collector's full passes, which otherwise stall the event loop for ~0.1-0.3 s.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    worker.gate.start()
    try:
        faust.Worker(worker.app, loglevel="INFO", quiet=True).execute_from_commandline()
    finally:
        worker.gate.close()
