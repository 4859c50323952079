"""The worker's `/readyz`: table recovery done, Kafka, Redis and ClickHouse answering, and
the checkpoints writable (`infra.checkpoints.failing`).

Kafka and Redis are checked in a thread (blocking clients, short timeouts); ClickHouse
through the worker's own warehouse gate, so the embedded chdb is asked by its owner. A timer
runs the same checks so `aiq_dependency_up` stays current without anyone probing.
"""

from __future__ import annotations

import asyncio

import faust
from faust.web import Request, Response, View

from agents.land import WarehouseGate
from infra.checkpoints import failing as checkpoints_failing
from infra.health import Check, check_kafka, check_redis
from infra.metrics import DEPENDENCY_UP
from infra.settings import Settings

CHECK_SECONDS = 3.0
GAUGE_SECONDS = 15.0


async def _warehouse(gate: WarehouseGate) -> Check:
    try:
        await asyncio.wait_for(gate.call(gate.warehouse.query, "SELECT 1"), CHECK_SECONDS)
    except Exception as exc:
        check = Check(False, f"{gate.warehouse.describe()}: {type(exc).__name__}: {exc}")
    else:
        check = Check(True)
    DEPENDENCY_UP.labels("clickhouse").set(1 if check.ok else 0)
    return check


async def readiness(app: faust.App, settings: Settings, gate: WarehouseGate
                    ) -> tuple[bool, dict[str, object]]:
    """(ready, body): the body names every check and the reason of each failing one."""
    kafka, redis_check, warehouse = await asyncio.gather(
        asyncio.to_thread(check_kafka, settings.kafka_bootstrap),
        asyncio.to_thread(check_redis, settings.redis_url),
        _warehouse(gate),
    )
    recovered = app.tables.recovery.completed.is_set()
    # A full or read-only state dir: the worker runs on, on its last good checkpoints.
    failing = checkpoints_failing()
    checks = {"recovery": Check(recovered, "" if recovered else "table recovery in progress"),
              "kafka": kafka, "redis": redis_check, "clickhouse": warehouse,
              "checkpoints": Check(not failing, "; ".join(failing.values()))}
    ready = all(c.ok for c in checks.values())
    body: dict[str, object] = {
        "status": "ready" if ready else "not ready",
        "checks": {name: c.to_json() for name, c in checks.items()},
    }
    return ready, body


def register(app: faust.App, settings: Settings, gate: WarehouseGate) -> None:
    @app.page("/readyz")
    class Ready(View):
        """200 once table recovery completed and the streams sought their committed offsets,
        and Kafka, Redis and ClickHouse answer; 503 with the reasons otherwise."""

        async def get(self, request: Request) -> Response:
            ready, body = await readiness(app, settings, gate)
            return self.json(body, status=200 if ready else 503)

    @app.timer(GAUGE_SECONDS, name="check_dependencies")
    async def check_dependencies() -> None:
        await readiness(app, settings, gate)
