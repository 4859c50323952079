"""The API's health, readiness and metrics endpoints against the real Redis and Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.main import create_app
from infra.settings import Settings

pytestmark = pytest.mark.integration


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(Settings()):
        yield c


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_redis_and_kafka_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"redis": True, "kafka": True}}


async def test_not_ready_names_what_is_down() -> None:
    down = Settings(redis_url="redis://127.0.0.1:1/0", kafka_bootstrap="127.0.0.1:1")
    async for client in _client(down):
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"redis": False, "kafka": False}


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/no/such/route")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'aiq_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text
    assert 'route="unmatched",status="404"' in response.text
