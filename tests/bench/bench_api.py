"""The marketplace read API under a real load tool: recommendations latency at a fixed rate,
the highest rate with p99 under 50 ms, the response cache's hit rate under a read mix, and
live-feed delivery latency with 100 SSE clients connected.

One API process (one uvicorn worker), Redis and the load tool (`oha`, built from crates.io by
`scripts/bench-tools.sh`) on this machine. Redis holds `LEADS` leads placed the way the serve
agent places them, around four metros; buyers are the bundled ones. The read mix is
`QUERIES` distinct requests (own areas, points, cells at several resolutions, filters) by a
few dozen buyers, each repeated: what a fleet of buyer dashboards polling looks like.

Run: `make bench BENCH_ARGS="-s -k api"`, or
`pytest tests/bench/bench_api.py -m bench -s -o 'python_files=bench_*.py'`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import h3.api.basic_int as h3
import httpx
import msgspec
import pytest
from httpx_sse import aconnect_sse

from streams.serve.ranking import load_buyers
from tests.integration.marketplace import (
    api_process,
    drop_keys,
    market_settings,
    new_key,
    place,
    scored,
)

pytestmark = pytest.mark.bench

METROS: list[tuple[float, float]] = []  # the homes of a few premium buyers, set below
LEADS = 8_000
QUERIES = 200
FEED_CLIENTS = 100
FEED_LEADS = 600
SECONDS = int(os.environ.get("AIQ_BENCH_SECONDS", "20"))


def oha() -> str:
    found = shutil.which("oha") or next(
        (str(p) for p in (Path(".aiqleads/tools/bin/oha"),) if p.exists()), None)
    if found is None:
        pytest.fail("oha not found: `scripts/bench-tools.sh` builds it (make bench runs it)")
    return found


def run_oha(urls: Path, rate: int, seconds: int, key: str) -> dict[str, Any]:
    out = subprocess.run(
        [oha(), "-z", f"{seconds}s", "-q", str(rate), "-c", "64", "--no-tui",
         "--output-format", "json", "--urls-from-file", str(urls),
         "-H", f"Authorization: Bearer {key}"],
        capture_output=True, text=True, timeout=seconds + 120, check=True)
    return json.loads(out.stdout)


def summary(result: dict[str, Any]) -> dict[str, float]:
    pct = result["latencyPercentiles"]
    codes = result.get("statusCodeDistribution", {})
    return {"rps": result["summary"]["requestsPerSec"], "p50_ms": pct["p50"] * 1000,
            "p99_ms": pct["p99"] * 1000, "ok_share": codes.get("200", 0) / max(
                1, sum(codes.values()))}


def metric(url: str, name: str, label: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name) and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def read_mix(url: str, buyer_cells: list[int], rng: random.Random) -> list[str]:
    urls = []
    for i in range(QUERIES):
        kind = i % 4
        if kind == 0:
            urls.append(f"{url}/v1/recommendations?limit=20")
        elif kind == 1:
            lat, lon = rng.choice(METROS)
            radius = rng.choice([2, 5, 10])
            urls.append(f"{url}/v1/recommendations?lat={lat + rng.uniform(-.05, .05):.4f}"
                        f"&lon={lon + rng.uniform(-.05, .05):.4f}&radius_km={radius}")
        elif kind == 2:
            cell = h3.cell_to_parent(rng.choice(buyer_cells), rng.choice([5, 6, 7]))
            urls.append(f"{url}/v1/recommendations?cell={cell:x}&limit=10")
        else:
            lat, lon = rng.choice(METROS)
            urls.append(f"{url}/v1/recommendations?lat={lat:.4f}&lon={lon:.4f}&radius_km=8"
                        f"&intent=buy&price_min=250000&min_score=0.1")
    return urls


async def feed_latency(url: str, key: str, settings: Any) -> dict[str, float]:
    received: list[float] = []
    ready = 0
    all_ready = asyncio.Event()

    async def client() -> None:
        nonlocal ready
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as http, \
                aconnect_sse(http, "GET", f"{url}/v1/feed",
                             headers={"Authorization": f"Bearer {key}"}) as source:
            ready += 1
            if ready == FEED_CLIENTS:
                all_ready.set()
            async for event in source.aiter_sse():
                if event.event == "lead":
                    lead = json.loads(event.data)
                    received.append(time.time() * 1000 - lead["scored_ms"])

    tasks = [asyncio.create_task(client()) for _ in range(FEED_CLIENTS)]
    await asyncio.wait_for(all_ready.wait(), timeout=120)
    rng = random.Random(5)
    for batch in range(FEED_LEADS // 20):  # 20 leads every 100 ms: 200 leads/s
        now_ms = int(time.time() * 1000)
        await place(settings, [scored(900_000 + batch * 20 + j, near=METROS[0], spread_km=3,
                                      scored_ms=now_ms, rng=rng) for j in range(20)],
                    load_buyers(None))
        await asyncio.sleep(0.1)
    await asyncio.sleep(3)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    received.sort()
    return {"events": len(received),
            "p50_ms": statistics.median(received) if received else float("nan"),
            "p99_ms": received[int(len(received) * 0.99) - 1] if received else float("nan")}


def test_api_read_path() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="aiq-bench-api-"))
    buyers = load_buyers(None)
    settings = market_settings(tmp, rate_limit_premium="1000000/second",
                               rate_limit_standard="1000000/second")
    settings.buyers_file.write_bytes(msgspec.json.encode(buyers))  # type: ignore[union-attr]
    rng = random.Random(3)
    premiums = [b for b in buyers if b.tier == "premium" and b.cells_r7 and b.home_lat]
    METROS[:] = [(b.home_lat, b.home_lon) for b in premiums[:4]]  # type: ignore[misc]
    leads = [scored(i, near=rng.choice(METROS), spread_km=12, rng=rng) for i in range(LEADS)]
    asyncio.run(_place_all(settings, leads, buyers))
    premium = premiums[0]
    key = asyncio.run(new_key(settings, premium.buyer_id))
    results: dict[str, Any] = {}
    try:
        with api_process(settings, tmp / "api.log") as url:
            urls = tmp / "urls.txt"
            urls.write_text("\n".join(read_mix(url, premium.cells_r7, rng)) + "\n")
            run_oha(urls, 500, 5, key)  # warm up: imports, caches, connections
            hits0 = metric(url, "aiq_reco_cache_requests_total", 'result="hit"')
            miss0 = metric(url, "aiq_reco_cache_requests_total", 'result="miss"')
            results["at_2000"] = summary(run_oha(urls, 2000, SECONDS, key))
            hits = metric(url, "aiq_reco_cache_requests_total", 'result="hit"') - hits0
            misses = metric(url, "aiq_reco_cache_requests_total", 'result="miss"') - miss0
            results["cache_hit_rate"] = hits / max(1, hits + misses)
            sweep = {}
            for rate in (500, 1000, 1500, 2000, 2500, 3000, 4000):
                sweep[rate] = summary(run_oha(urls, rate, max(8, SECONDS // 2), key))
            results["sweep"] = sweep
            ok = [r for r, s in sweep.items() if s["p99_ms"] < 50 and s["rps"] >= 0.97 * r]
            results["max_rate_p99_under_50ms"] = max(ok) if ok else 0
            results["feed"] = asyncio.run(feed_latency(url, key, settings))
    finally:
        asyncio.run(drop_keys(settings))
    print("\n" + json.dumps(results, indent=1))
    out = os.environ.get("AIQ_BENCH_JSON")
    if out:
        Path(out).write_text(json.dumps(results, indent=1))
    assert results["at_2000"]["ok_share"] > 0.99


async def _place_all(settings: Any, leads: list, among: list) -> None:
    for start in range(0, len(leads), 2000):
        await place(settings, leads[start:start + 2000], among)
