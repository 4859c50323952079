"""Shared parts of the marketplace API tests: buyers, scored leads placed in Redis the way the
serve agent places them, keys, an in-process client and a real API server process."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import h3.api.basic_int as h3
import httpx
import msgspec
import redis.asyncio as aioredis
from asgi_lifespan import LifespanManager

from api.main import create_app
from infra.keystore import BUYER_SCOPES, KeyStore
from infra.redis_store import RedisRankings
from infra.settings import Settings
from schemas.lead import ScoredLead
from schemas.market import Buyer
from streams.serve.ranking import BuyerIndex, serve_op
from tests.integration.harness import SCAN_COUNT, free_port, settings_env, wait_until

AUSTIN = (30.2672, -97.7431)
DALLAS = (32.7767, -96.7970)
AUSTIN_R7 = h3.latlng_to_cell(*AUSTIN, 7)
REDIS_URL = os.environ.get("AIQ_REDIS_URL", "redis://127.0.0.1:6379/0")


def buyers() -> list[Buyer]:
    around = sorted(h3.grid_disk(AUSTIN_R7, 3))
    return [
        Buyer(buyer_id="b-std", brokerage_id="brk-1", name="Standard Realty", cells_r7=around,
              home_lat=AUSTIN[0], home_lon=AUSTIN[1], intents=["buy", "sell", "rent"]),
        Buyer(buyer_id="b-pro", brokerage_id="brk-2", name="Premium Homes", cells_r7=around,
              home_lat=AUSTIN[0], home_lon=AUSTIN[1], tier="premium",
              intents=["buy", "sell", "rent"], price_min=200_000, price_max=900_000),
        Buyer(buyer_id="b-far", brokerage_id="brk-3", name="Dallas Only",
              cells_r7=sorted(h3.grid_disk(h3.latlng_to_cell(*DALLAS, 7), 2)),
              home_lat=DALLAS[0], home_lon=DALLAS[1], tier="premium"),
    ]


def market_settings(tmp_path: Path, **overrides: object) -> Settings:
    buyers_file = tmp_path / "buyers.json"
    buyers_file.write_bytes(msgspec.json.encode(buyers()))
    values: dict[str, object] = {
        "state_dir": tmp_path / "state", "topic_prefix": f"m{uuid.uuid4().hex[:10]}.",
        "buyers_file": buyers_file, "redis_url": REDIS_URL, "priority_window_seconds": 60.0,
        "rate_limit_standard": "1000/second", "rate_limit_premium": "1000/second",
        "rate_limit_publishable": "1000/second", "api_port": free_port(),
        "feed_heartbeat_seconds": 2.0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def scored(i: int, *, near: tuple[float, float] = AUSTIN, spread_km: float = 8.0,
           score: float | None = None, scored_ms: int | None = None,
           rng: random.Random | None = None, **fields: object) -> ScoredLead:
    """A sellable scored lead about `spread_km` around `near`."""
    rng = rng or random.Random(i)
    lat = near[0] + rng.uniform(-1, 1) * spread_km / 111.0
    lon = near[1] + rng.uniform(-1, 1) * spread_km / 96.0
    now_ms = int(time.time() * 1000)
    when = scored_ms if scored_ms is not None else now_ms - 3_600_000  # visible to all
    values: dict[str, object] = {
        "lead_id": f"lead-{i:05d}", "source": "portal", "source_lead_id": f"p-{i}",
        "event_time": datetime.fromtimestamp((when - rng.randint(0, 600_000)) / 1000, UTC),
        "received_time": datetime.fromtimestamp(when / 1000, UTC),
        "first_name": "Jane", "last_name": f"Doe{i}", "email": f"jane{i}@example.com",
        "phone": "+15125550134", "intent": rng.choice(["buy", "sell", "rent"]),
        "property_type": rng.choice(["single_family", "condo", "townhouse"]),
        "price": float(rng.choice([150_000, 320_000, 450_000, 780_000, 1_200_000])),
        "beds": rng.randint(1, 5), "street": "1 Congress Ave", "city": "Austin", "state": "TX",
        "zip": "78701", "lat": lat, "lon": lon, "message": "call me after 5",
        "h3_r7": h3.latlng_to_cell(lat, lon, 7), "h3_r8": h3.latlng_to_cell(lat, lon, 8),
        "h3_r9": h3.latlng_to_cell(lat, lon, 9),
        "score": round(rng.uniform(0.01, 0.9), 4) if score is None else score,
        "scored_ms": when, "produced_ms": when - 50, "reasons": ["has_phone+"],
    }
    if values["intent"] == "rent":
        values["price"] = float(rng.choice([1_200, 2_400, 3_900]))
    values.update(fields)
    return ScoredLead(**values)  # type: ignore[arg-type]


async def place(settings: Settings, leads: Sequence[ScoredLead],
                among: Sequence[Buyer] | None = None) -> None:
    """Into Redis exactly as the serve agent writes them (candidates: `among`, default the
    test buyers)."""
    rankings = RedisRankings.from_settings(settings)
    await rankings.start()
    try:
        index = BuyerIndex(buyers() if among is None else among)
        await rankings.apply([serve_op(lead, index, None, settings.score_half_life_hours)
                              for lead in leads])
    finally:
        await rankings.close()


async def new_key(settings: Settings, buyer_id: str = "", scopes: Sequence[str] = BUYER_SCOPES,
                  **options: object) -> str:
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        secret, _ = await KeyStore(client, settings.topic_prefix).create(
            buyer_id, scopes, **options)  # type: ignore[arg-type]
    finally:
        await client.aclose()
    return secret


async def drop_keys(settings: Settings) -> None:
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(f"{settings.topic_prefix}*", count=SCAN_COUNT)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start:start + 500])
    finally:
        await client.aclose()


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@contextmanager
def api_process(settings: Settings, log_path: Path) -> Iterator[str]:
    """`aiqleads api` as its own process (a real server, real sockets); yields its URL."""
    env = {**os.environ, **settings_env(settings), "AIQ_BUYERS_FILE": str(settings.buyers_file),
           "AIQ_API_PORT": str(settings.api_port), "AIQ_API_HOST": "127.0.0.1",
           **{f"AIQ_{name.upper()}": str(getattr(settings, name)) for name in (
               "priority_window_seconds", "rate_limit_standard", "rate_limit_premium",
               "rate_limit_publishable", "reco_cache_seconds", "feed_heartbeat_seconds",
               "feed_max_connections_per_key")},
           "AIQ_STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secret.get_secret_value()}
    url = f"http://127.0.0.1:{settings.api_port}"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "infra.cli", "api"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def up() -> bool:
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(up, timeout=60, interval=0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
