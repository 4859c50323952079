"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from confluent_kafka.admin import AdminClient
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RedisDep, SettingsDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


def _kafka_reachable(bootstrap: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000})
    try:
        admin.list_topics(timeout=2)
    except Exception:
        return False
    return True


@router.get("/readyz")
async def readyz(redis: RedisDep, settings: SettingsDep) -> JSONResponse:
    """Ready when the services the API needs answer: Redis and Kafka."""
    checks: dict[str, bool] = {}
    try:
        checks["redis"] = bool(await asyncio.wait_for(redis.ping(), timeout=2))
    except Exception:
        checks["redis"] = False
    checks["kafka"] = await asyncio.to_thread(_kafka_reachable, settings.kafka_bootstrap)
    ready = all(checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
