"""Market-side agents: competitor offices and buyer interactions into the geo/market feature stores.

The stores (streams/features/market_stores.py) are in-memory and written behind into the
changelogged tables `density_by_cell`, `competitors_by_office`, `market_by_cell`
and `penetration_by_cell` (agents/persist.py). The worker restores them once
table recovery completes (`agents.persist.restore_when_recovered`), and these
agents, like the ingest agent, call `restore_all` before each event in case they
run first.

- `track_competitors` applies `market.competitors` updates (value: a
  `CompetitorOffice` as JSON) over the offices seeded here from
  `settings.competitors_file` (the bundled file when unset).
- `track_interactions` feeds `buyer.interactions` (`BuyerInteraction` JSON) to the
  market book (active buyers) and the penetration book (purchases, returns).
Bad events are logged with their origin, counted and skipped: neither topic has
a dead-letter topic and neither may stop the worker. A timer sweeps faded cells.
"""

from __future__ import annotations

import logging
import time

import faust
import msgspec
from prometheus_client import Counter

from agents.decoding import origin
from agents.persist import WriteBehind, persisted, restore_all
from agents.topics import Topics
from infra.settings import Settings
from schemas.market import BuyerInteraction, CompetitorOffice
from streams.features.competitors import load_competitors
from streams.features.market_stores import MarketStores

log = logging.getLogger(__name__)

SWEEP_SECONDS = 600.0

MARKET_EVENTS = Counter(
    "aiq_market_events_total", "Market-side events consumed by the feature stores",
    ["topic", "outcome"],  # outcome: applied, stale (older than known), unused, bad
)

_office_decoder = msgspec.json.Decoder(CompetitorOffice)
_interaction_decoder = msgspec.json.Decoder(BuyerInteraction)


def register(
    app: faust.App, topics: Topics, settings: Settings, stores: MarketStores
) -> list[WriteBehind]:
    """Declare the stores' tables and the market agents; seeds the competitor index now."""
    seeded = stores.competitors.seed(load_competitors(settings.competitors_file))
    log.info("competitor index seeded with %d offices", seeded)
    behinds = [persisted(app, settings, name, store, help)
               for name, (store, help) in stores.tables().items()]

    def restore() -> None:
        restore_all(behinds)

    @app.agent(topics.competitors, name="track_competitors")
    async def track_competitors(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            restore()
            try:
                office = _office_decoder.decode(event.value)
                applied = stores.competitors.apply(office)
            except (msgspec.DecodeError, ValueError, TypeError) as exc:
                log.warning("competitor office skipped at %s: %s", origin(event.message), exc)
                MARKET_EVENTS.labels("competitors", "bad").inc()
                continue
            MARKET_EVENTS.labels("competitors", "applied" if applied else "stale").inc()

    @app.agent(topics.interactions, name="track_interactions")
    async def track_interactions(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            restore()
            try:
                interaction = _interaction_decoder.decode(event.value)
            except (msgspec.DecodeError, TypeError) as exc:
                log.warning("buyer interaction skipped at %s: %s", origin(event.message), exc)
                MARKET_EVENTS.labels("interactions", "bad").inc()
                continue
            used = stores.observe_interaction(interaction)
            MARKET_EVENTS.labels("interactions", "applied" if used else "unused").inc()

    @app.timer(SWEEP_SECONDS, name="sweep_market_stores")
    async def sweep_market_stores() -> None:
        if all(behind.restored for behind in behinds):  # a cold store has nothing to forget
            gone = stores.sweep(int(time.time() * 1000))
            if gone:
                log.info("market stores: forgot %d faded cells", gone)

    return behinds
