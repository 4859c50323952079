"""Once a minute (`model_metrics_seconds`), the scorer's per-arm figures into `model_metrics`.

Rows come from `streams.scoring.health.model_metrics_rows` (lifetime, rolling and last-hour
figures of each arm) and go through the worker's `WarehouseGate`, the one thread every
warehouse call uses. Metrics are observability: a minute whose insert fails is logged,
counted and skipped (the next minute carries the same lifetime and rolling figures), never
retried at the cost of the agents.
"""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime

import faust

from agents.land import WarehouseGate
from infra.metrics import MODEL_METRICS_ROWS
from infra.settings import Settings
from streams.scoring.arms import Scorer
from streams.scoring.health import model_metrics_rows

log = logging.getLogger(__name__)

def worker_name(settings: Settings) -> str:
    return f"{socket.gethostname()}:{settings.worker_web_port}"


async def record(scorer: Scorer, gate: WarehouseGate, worker: str) -> int:
    """Write one minute of rows; how many (0 when the insert failed)."""
    rows = model_metrics_rows(scorer, datetime.now(UTC), worker)
    try:
        await gate.call(gate.warehouse.insert_model_metrics, rows, int(time.time() * 1000))
    except Exception as exc:  # any warehouse failure: skip this minute
        MODEL_METRICS_ROWS.labels("failed").inc(len(rows))
        log.warning("model_metrics: %d rows not written (%s); next minute tries again",
                    len(rows), exc)
        return 0
    MODEL_METRICS_ROWS.labels("written").inc(len(rows))
    return len(rows)


def register(app: faust.App, settings: Settings, scorer: Scorer, gate: WarehouseGate) -> None:
    worker = worker_name(settings)

    @app.timer(settings.model_metrics_seconds, name="record_model_metrics")
    async def record_model_metrics() -> None:
        await record(scorer, gate, worker)
