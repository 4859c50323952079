"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import SettingsDep
from api.routes.ops import MetricsAccess
from infra.health import check_all

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(settings: SettingsDep) -> JSONResponse:
    """Ready when the services the API serves from answer: Redis and Kafka. ClickHouse is
    checked and reported too (the ops routes read it) but does not gate readiness."""
    checks = await asyncio.to_thread(check_all, settings)
    ready = checks["redis"].ok and checks["kafka"].ok
    body = {"ready": ready,
            "checks": {name: {**check.to_json(), "required": name != "clickhouse"}
                       for name, check in checks.items()}}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(_: MetricsAccess) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
