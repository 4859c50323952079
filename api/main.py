"""Build the FastAPI app. Settings are passed in; nothing reads the environment here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from redis.exceptions import RedisError

from api import errors
from api.feed import FeedHub
from api.ops_state import OpsState
from api.reco import Recommendations
from api.routes import admin, cart, checkout, feed, health, ingest, ops, orders, recommendations
from infra import redis_client
from infra.kafka.producer import LeadProducer, ProduceFailed
from infra.keystore import KeyStore
from infra.market_view import MarketView
from infra.marketplace.keys import TradeKeys
from infra.marketplace.outbox import OutboxRelay
from infra.marketplace.payments import Payments
from infra.marketplace.store import Marketplace
from infra.metrics import HTTP_REQUESTS, HTTP_SECONDS
from infra.ratelimit import RateLimits
from infra.redis_store import KeyLayout, RedisRankings
from infra.settings import Settings
from streams.parse.partner_mappings import load_partners
from streams.parse.registry import warm
from streams.serve.ranking import load_buyers

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Real-time real-estate leads for buyers (agents and brokers) and their websites.

Buyers authenticate with a secret key (`Authorization: Bearer sk_…` or `X-API-Key`),
websites with a publishable feed key (`pk_…`, as `?key=`). Every error is JSON:
`{"code": "...", "detail": "a sentence"}`. No response shows a lead's contact details
before it is bought.
"""


async def _expire_holds(market: Marketplace, stop: asyncio.Event, every_s: float = 1.0
                        ) -> None:
    """Leads whose holds ran out go back into the live feed (within about a second). Every
    API process sweeps; the script is idempotent, so two sweeping at once is harmless."""
    while not stop.is_set():
        try:
            while await market.expire_due(int(time.time() * 1000)) >= 500:
                pass
        except RedisError as exc:
            log.warning("hold expiry sweep failed: %s", exc)
        except Exception:  # a dead sweeper would leave every later hold out of the feed
            log.exception("hold expiry sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        # The worker's partner feeds: an HTTP partner row is checked as the worker will.
        app.state.partners = load_partners(settings.partners_file)
        app.state.redis = redis_client.connect(settings.redis_url)
        app.state.buyers = {b.buyer_id: b for b in load_buyers(settings.buyers_file)}
        app.state.keys = KeyStore(app.state.redis, prefix=settings.topic_prefix)
        app.state.rate_limits = RateLimits(settings.redis_url, prefix=settings.topic_prefix)
        view = MarketView(app.state.redis, KeyLayout(settings.topic_prefix),
                          settings.score_half_life_hours)
        app.state.market_view = view
        app.state.recommendations = Recommendations(
            view, ttl_s=settings.reco_cache_seconds,
            half_life_hours=settings.score_half_life_hours,
            window_ms=int(settings.priority_window_seconds * 1000),
            max_radius_km=settings.reco_max_radius_km)
        # Blocking reads (the feed hub's XREAD, the relay's XREADGROUP) get a client of their
        # own without command retries: a retried blocking read can outlive its task's cancel.
        blocking = redis_client.connect(settings.redis_url, reconnect=False)
        app.state.feed_hub = FeedHub(MarketView(blocking, KeyLayout(settings.topic_prefix),
                                                settings.score_half_life_hours))
        # Loops that stop on an event, not on cancel alone: under Python 3.11 a cancel that
        # lands inside a Redis client's own timeout handling can be swallowed, and a loop
        # waiting only for its cancel would then outlive the shutdown.
        stop = asyncio.Event()
        feed_task = asyncio.create_task(app.state.feed_hub.run(stop), name="feed-hub")
        app.state.rankings = RedisRankings.from_settings(settings, client=app.state.redis)
        app.state.market = Marketplace(
            app.state.redis, TradeKeys(settings.topic_prefix),
            feed_maxlen=settings.feed_stream_maxlen,
            gone_ttl_s=int(settings.lead_card_ttl_hours * 3600))
        app.state.payments = Payments(
            settings.stripe_api_key.get_secret_value(), settings.stripe_api_base,
            settings.stripe_webhook_secret.get_secret_value(),
            tolerance_s=settings.stripe_webhook_tolerance_seconds)
        app.state.producer = LeadProducer(settings.kafka_bootstrap)
        try:
            # The API starts while Kafka is down (/readyz says so); ingest connects on demand.
            await app.state.producer.start()
        except ProduceFailed as exc:
            log.warning("Kafka producer not connected at startup: %s", exc)
        await asyncio.to_thread(warm)  # the parsers' lookup tables, before the first ingest
        app.state.ops = OpsState(settings)  # lag, metrics, health and map, off the request path
        app.state.ops.start()
        relay = OutboxRelay(blocking, TradeKeys(settings.topic_prefix), app.state.producer,
                            settings, {b.buyer_id: b.brokerage_id
                                       for b in app.state.buyers.values()})
        background = [feed_task,
                      asyncio.create_task(relay.run(stop), name="audit-relay"),
                      asyncio.create_task(_expire_holds(app.state.market, stop),
                                          name="hold-expiry")]
        try:
            yield
        finally:
            await app.state.ops.stop()
            stop.set()  # then cancel: ends blocking reads at once, and the event ends a
            for task in background:  # loop whose cancel was swallowed at its next turn
                task.cancel()
            await asyncio.wait(background, timeout=3)
            await app.state.producer.stop()
            await app.state.redis.aclose()
            await blocking.aclose()

    app = FastAPI(title="AIQLeads Stream", version="0.1.0", lifespan=lifespan,
                  description=_DESCRIPTION)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(ops.router)
    app.include_router(recommendations.router)
    app.include_router(feed.router)
    app.include_router(cart.router)
    app.include_router(checkout.router)
    app.include_router(orders.router)
    app.include_router(admin.router)

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
