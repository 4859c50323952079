"""Build the FastAPI app. Settings are passed in; nothing reads the environment here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI, Request, Response

from api.ops_state import OpsState
from api.routes import health, ingest, ops
from infra.kafka.producer import LeadProducer, ProduceFailed
from infra.metrics import HTTP_REQUESTS, HTTP_SECONDS
from infra.settings import Settings
from streams.parse.partner_mappings import load_partners
from streams.parse.registry import warm

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        # The worker's partner feeds: an HTTP partner row is checked as the worker will.
        app.state.partners = load_partners(settings.partners_file)
        app.state.redis = aioredis.Redis.from_url(settings.redis_url)
        app.state.producer = LeadProducer(settings.kafka_bootstrap)
        try:
            # The API starts while Kafka is down (/readyz says so); ingest connects on demand.
            await app.state.producer.start()
        except ProduceFailed as exc:
            log.warning("Kafka producer not connected at startup: %s", exc)
        await asyncio.to_thread(warm)  # the parsers' lookup tables, before the first ingest
        app.state.ops = OpsState(settings)  # lag, metrics, health and map, off the request path
        app.state.ops.start()
        try:
            yield
        finally:
            await app.state.ops.stop()
            await app.state.producer.stop()
            await app.state.redis.aclose()

    app = FastAPI(title="AIQLeads Stream", version="0.1.0", lifespan=lifespan)
    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(ops.router)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # The route template, not the path: ids in paths would explode the label set.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_SECONDS.labels(request.method, route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response

    return app
