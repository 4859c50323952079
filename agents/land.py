"""`land_*` agents: columnar batches into ClickHouse; offsets are acked only after the insert.

Scored leads are landed by the raw → scored batch loop (`agents/ingest.py`) from the batch
it scored, through `land_leads` here, before it commits; the agents below land the other
topics (dead letters, outcomes, engagement, the marketplace's cart events).

Faust's `take_events` acks a batch when the loop body returns, so the insert
happens inside the body. A failed insert is retried with backoff (the take
buffer fills and consumption pauses: backpressure). If the worker is stopped
while a batch has not landed, the process exits without acking, so the batch
is consumed again on restart; the tables are keyed by id, so a replay never
duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust

from agents.decoding import DECODE_ERRORS, decode_all
from agents.topics import Topics
from infra.metrics import (
    LAND_BATCH_SECONDS,
    LAND_FAILURES,
    PIPELINE_LATENCY,
    ROWS_LANDED,
    STAGE_LATENCY,
    observe_sink_batch,
)
from infra.settings import Settings
from infra.warehouse.base import Warehouse
from schemas.codec import cart_event_decoder, dead_letter_decoder, outcome_decoder
from schemas.lead import ScoredLead
from streams.features.behaviour import BadEngagement, decode_event

log = logging.getLogger(__name__)

#: Exit code when a stop interrupts a batch that has not landed: "restart me and replay".
EXIT_UNLANDED = 75
_MAX_BACKOFF = 30.0


class WarehouseGate:
    """Serialises every warehouse call on one thread: chdb is single-process and not
    re-entrant, and the event loop must keep consuming while a batch is inserted."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse")

    def start(self) -> None:
        self._executor.submit(self.warehouse.start).result()

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.submit(self.warehouse.close).result()
        self._executor.shutdown(wait=True)


async def _insert_until_landed(
    gate: WarehouseGate, table: str, insert: Callable[[Sequence[Any], int], None], rows: list[Any]
) -> int:
    backoff = 0.5
    while True:
        landed_ms = int(time.time() * 1000)
        started = time.perf_counter()
        try:
            await gate.call(insert, rows, landed_ms)
        except Exception as exc:
            LAND_FAILURES.labels(table).inc()
            log.error("insert of %d rows into %s failed (%s); retrying in %.1fs",
                      len(rows), table, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
            continue
        LAND_BATCH_SECONDS.labels(table).observe(time.perf_counter() - started)
        ROWS_LANDED.labels(table).inc(len(rows))
        observe_sink_batch(f"clickhouse_{table}", len(rows), time.perf_counter() - started,
                           landed_ms)
        return landed_ms


async def land_batch(
    gate: WarehouseGate, table: str, insert: Callable[[Sequence[Any], int], None], rows: list[Any]
) -> int:
    """Insert `rows`, retrying until it succeeds; never return without having landed them."""
    task = asyncio.ensure_future(_insert_until_landed(gate, table, insert, rows))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=10)
        except BaseException:
            # Returning would let Faust ack and commit a batch that is not in ClickHouse.
            log.critical("stopping with %d unlanded rows for %s: exiting so they replay",
                         len(rows), table)
            os._exit(EXIT_UNLANDED)
        raise


async def land_leads(gate: WarehouseGate, leads: list[ScoredLead]) -> None:
    """Land a batch of scored leads (the raw → scored loop calls it with the batch it scored,
    so leads are not decoded again from `leads.scored`)."""
    landed_ms = await land_batch(gate, "leads", gate.warehouse.insert_leads, leads)
    latency, landed = PIPELINE_LATENCY, STAGE_LATENCY.labels("landed")
    for lead in leads:
        seconds = max(landed_ms - lead.produced_ms, 0) / 1000
        latency.observe(seconds)
        landed.observe(seconds)


async def landed_leads(gate: WarehouseGate, lead_ids: list[str]) -> list[ScoredLead]:
    """The newest landed version of the leads `lead_ids` (the re-sends of leads the loop
    does not remember)."""
    return await gate.call(gate.warehouse.landed_leads, lead_ids)


def register(app: faust.App, topics: Topics, settings: Settings, gate: WarehouseGate) -> None:
    batch_rows, within = settings.land_batch_rows, settings.land_batch_seconds
    warehouse = gate.warehouse

    @app.agent(topics.dlq, name="land_dead_letters")
    async def land_dead_letters(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch_rows, within=within):
            letters = decode_all(events, dead_letter_decoder.decode)
            if letters:
                await land_batch(gate, "dlq", warehouse.insert_dead_letters, letters)

    @app.agent(topics.outcomes, name="land_outcomes")
    async def land_outcomes(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch_rows, within=within):
            outcomes = decode_all(events, outcome_decoder.decode)
            if outcomes:
                await land_batch(gate, "outcomes", warehouse.insert_outcomes, outcomes)

    @app.agent(topics.cart, name="land_cart_events")
    async def land_cart_events(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch_rows, within=within):
            changes = decode_all(events, cart_event_decoder.decode)
            if changes:
                await land_batch(gate, "cart_events", warehouse.insert_cart_events, changes)

    @app.agent(topics.engagement, name="land_engagement")
    async def land_engagement(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch_rows, within=within):
            # Contacts normalised as the behaviour book keys them; no person, no row.
            engagement = decode_all(events, decode_event, (*DECODE_ERRORS, BadEngagement))
            if engagement:
                await land_batch(gate, "engagement", warehouse.insert_engagement, engagement)
