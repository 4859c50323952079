"""What the operators' routes serve, computed off the request path by one background task.

Every `ops_poll_seconds` it polls the lag monitor, scrapes the worker's `/metrics` and
reads this process's own registry, checks Kafka, Redis and ClickHouse, and summarises; every
`ops_map_seconds` it rebuilds the lead map from the warehouse. Routes read the latest values;
SSE clients wait on `changed` and send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

import httpx
from prometheus_client import REGISTRY, generate_latest

from infra.health import Check, check_all, kafka_from, query
from infra.ops.hexmap import MAP_SQL, CellRow, build_map
from infra.ops.lag import LagMonitor, LagSnapshot
from infra.ops.summary import Scrape, merge, parse, summarize
from infra.settings import Settings
from schemas.contract import LEADS_TABLE
from streams.features.competitors import load_competitors
from streams.serve.ranking import load_buyers

log = logging.getLogger(__name__)

#: Rates and percentiles on /ops cover about this many seconds.
RATE_WINDOW_SECONDS = 30.0


class OpsState:
    def __init__(self, settings: Settings, monitor: LagMonitor | None = None) -> None:
        self.settings = settings
        self.monitor = monitor or LagMonitor.from_settings(settings,
                                                           window=settings.ops_lag_window)
        self.scrapes: deque[Scrape] = deque()
        self.lag: LagSnapshot = self.monitor.last
        self.summary: dict[str, Any] = {}
        self.health: dict[str, Check] = {}
        self.worker_error: str | None = None
        self.map: dict[str, Any] = {"resolution": settings.ops_map_resolution, "cells": []}
        self.map_error: str | None = "not computed yet"
        self.map_at = 0.0
        self.changed = asyncio.Event()
        self.version = 0
        self._task: asyncio.Task[None] | None = None
        self._buyers = load_buyers(settings.buyers_file)
        self._offices = load_competitors(settings.competitors_file)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ops-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.refresh()
            except Exception:  # the page must keep going whatever one poll hit
                log.exception("ops poll failed")
            await asyncio.sleep(max(0.1, self.settings.ops_poll_seconds
                                    - (time.monotonic() - started)))

    async def refresh(self) -> None:
        # The lag poll talks to Kafka anyway: its outcome is Kafka's health check.
        lag, health, worker_text = await asyncio.gather(
            asyncio.to_thread(self.monitor.poll),
            asyncio.to_thread(check_all, self.settings, kafka=False),
            self._scrape_worker(),
        )
        self.lag, self.health = lag, {"kafka": kafka_from(lag.error), **health}
        now = time.time()
        samples = merge(parse(worker_text, extra={"process": "worker"}) if worker_text else {},
                        parse(generate_latest(REGISTRY).decode(), extra={"process": "api"}))
        self.scrapes.append(Scrape(now, samples))
        while len(self.scrapes) > 2 and now - self.scrapes[1].at >= RATE_WINDOW_SECONDS:
            self.scrapes.popleft()
        then = self.scrapes[0] if len(self.scrapes) > 1 else None
        self.summary = summarize(self.scrapes[-1], then)
        if now - self.map_at >= self.settings.ops_map_seconds:
            self.map_at = now
            await self._refresh_map(now)
        self.version += 1
        self.changed.set()
        self.changed = asyncio.Event()

    async def _scrape_worker(self) -> str | None:
        url = (f"http://{self.settings.worker_web_host}:{self.settings.worker_web_port}"
               "/metrics")
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(url)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            self.worker_error = f"{url}: {type(exc).__name__}: {exc}"
            return None
        self.worker_error = None
        return response.text

    async def _refresh_map(self, now: float) -> None:
        since_ms = int((now - self.settings.ops_map_hours * 3600) * 1000)
        sql = MAP_SQL.format(table=LEADS_TABLE, since_ms=since_ms)
        try:
            rows = await asyncio.to_thread(query, self.settings, sql)
        except Exception as exc:
            self.map_error = f"warehouse: {type(exc).__name__}: {exc}"
            rows = []
        else:
            self.map_error = None
        cells = [CellRow(int(r[0]), int(r[1]), float(r[2]), int(r[3]),
                         None if r[4] is None or r[4] != r[4] else float(r[4]), int(r[5]))
                 for r in rows]
        self.map = await asyncio.to_thread(build_map, cells, self._buyers, self._offices,
                                           self.settings.ops_map_resolution)

    def overview(self) -> dict[str, Any]:
        """The live payload of `/v1/ops/summary` and each SSE message."""
        return {
            "version": self.version,
            "summary": self.summary,
            "lag": self.lag.to_json(),
            "health": {name: c.to_json() for name, c in self.health.items()},
            "worker": {"ok": self.worker_error is None, "reason": self.worker_error},
            "map": {"version": int(self.map_at), "cells": len(self.map.get("cells", [])),
                    "error": self.map_error},
        }
