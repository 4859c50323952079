"""The API's health, readiness and metrics endpoints against the real Redis and Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.main import create_app
from infra.settings import Settings

pytestmark = pytest.mark.integration
FORM = "application/x-www-form-urlencoded"


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


async def test_ready_when_redis_kafka_and_clickhouse_answer(server_url: str) -> None:
    async for client in _client(Settings(clickhouse_url=server_url)):
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"ready": True, "checks": {
            "kafka": {"ok": True, "required": True}, "redis": {"ok": True, "required": True},
            "clickhouse": {"ok": True, "required": False}}}


async def test_not_ready_names_what_is_down_and_why() -> None:
    down = Settings(redis_url="redis://127.0.0.1:1/0", kafka_bootstrap="127.0.0.1:1",
                    clickhouse_url="clickhouse://default:@127.0.0.1:1/aiqleads")
    async for client in _client(down):
        response = await client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert {name: c["ok"] for name, c in checks.items()} == {
            "redis": False, "kafka": False, "clickhouse": False}
        assert "127.0.0.1:1" in checks["redis"]["reason"]
        assert "127.0.0.1:1" in checks["kafka"]["reason"]
        assert "127.0.0.1:1" in checks["clickhouse"]["reason"]


async def test_clickhouse_down_is_reported_but_does_not_gate_readiness() -> None:
    async for client in _client(Settings(clickhouse_url="clickhouse://default:@127.0.0.1:1/x")):
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"]["clickhouse"]["ok"] is False


async def test_ops_routes_answer_only_on_loopback_without_a_token() -> None:
    app = create_app(Settings())
    async with LifespanManager(app):
        local = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        remote = httpx.ASGITransport(app=app, client=("192.0.2.7", 5000))
        async with httpx.AsyncClient(transport=local, base_url="http://api") as client:
            assert (await client.get("/v1/ops/lag")).status_code == 200
            assert (await client.get("/ops")).status_code == 200
        async with httpx.AsyncClient(transport=remote, base_url="http://api") as client:
            for path in ("/v1/ops/lag", "/v1/ops/summary", "/v1/ops/map", "/ops"):
                response = await client.get(path)
                assert response.status_code == 403, path
                assert response.json()["code"] == "ops_loopback_only"
            assert (await client.get("/metrics")).status_code == 200  # open without a token


async def test_ops_login_sets_a_cookie_that_opens_the_page() -> None:
    app = create_app(Settings(ops_token="s3cret"))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            assert (await client.get("/ops")).headers["location"] == "/ops/login"
            wrong = await client.post("/ops/login", content="token=nope",
                                      headers={"content-type": FORM})
            assert wrong.status_code == 401
            assert "aiq_ops" not in client.cookies
            right = await client.post("/ops/login", content="token=s3cret",
                                      headers={"content-type": FORM})
            assert right.status_code == 303
            page = await client.get("/ops")
            assert page.status_code == 200 and "<svg id=\"map\"" in page.text
            assert (await client.get("/v1/ops/map")).status_code == 200
            assert (await client.get("/ops/static/ops.js")).status_code == 200
            assert (await client.get("/ops/static/../main.py")).status_code == 404


async def test_ops_summary_after_a_poll(client: httpx.AsyncClient) -> None:
    for _ in range(60):  # the first poll runs in the background after start-up
        response = await client.get("/v1/ops/summary")
        assert response.status_code == 200
        body = response.json()
        if body["version"] > 0:
            break
        await asyncio.sleep(0.25)
    assert body["health"]["kafka"] == {"ok": True}
    assert "throughput" in body["summary"]


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/no/such/route")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'aiq_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text
    assert 'route="unmatched",status="404"' in response.text
