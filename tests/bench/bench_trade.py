"""The marketplace's transactions under load: hold and release latency with one API worker
under a real load tool, checkout latency against stripe-mock, and a hold race over two API
processes.

- **Holds**: `LEADS` leads on the market, a fifth of them already held by rival buyers;
  one buyer's key drives `oha` with `PUT /v1/holds/lead-NNNNN` over random leads (a new
  hold 201, the buyer's own hold again 201, a rival's 409), at a fixed rate and flat out,
  then `DELETE` the same way (200 released, 404 not held). Afterwards no rival lost a hold
  and every hold key agrees with its holder's list.
- **Checkout**: buyers hold 1 to 5 leads each, then `CHECKOUTS` checkouts, each with a fresh
  `Idempotency-Key`, one at a time and then `CONCURRENT` at once, timed by the client;
  every one a 201 with its own PaymentIntent for exactly the leads asked.
- **Hold cost vs the buyer's holds**: the hold script's time in Redis (one lead, at the
  store) while one buyer holds 0 to `SCALE_HOLDS` leads: it reads the buyer's whole list of
  holds to check the limits, so a buyer allowed many holds makes every one of their holds
  (and Redis, single-threaded, for everyone meanwhile) slower.
- **Race**: `RACE_TRIALS` times, 50 buyers hold one lead at once across two API processes;
  exactly one 201 each time.

The buyers' limits and the per-key rate limits are set out of the way: this measures the
transaction path, not the limiter. Run: `make bench BENCH_ARGS="-s -k trade"`, or
`pytest tests/bench/bench_trade.py -m bench -s -o 'python_files=bench_*.py'`
(with `oha` on PATH and stripe-mock on `AIQ_STRIPE_API_BASE`).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from infra.marketplace.keys import TradeKeys
from infra.marketplace.store import Marketplace
from infra.settings import Settings
from schemas.market import BuyerLimits
from streams.trade.limits import Limits
from tests.bench.bench_api import oha
from tests.integration.marketplace import api_process, drop_keys, place, scored
from tests.integration.trade import auth, keys_for, many_buyers, trade_settings

pytestmark = pytest.mark.bench

LEADS = 20_000  # lead-00000 .. lead-19999: the holds' URLs
RIVAL_SHARE = 5  # every fifth lead held by a rival before the run
CHECKOUTS = 100  # one at a time, then as many again CONCURRENT at once
CONCURRENT = 8
RACE_TRIALS = 200
RACERS = 50
FIXED_RATE = 300
SECONDS = int(os.environ.get("AIQ_BENCH_SECONDS", "15"))
BUYERS = [f"b-{i:02d}" for i in range(RACERS)]
HOLDER, RIVALS = "b-00", BUYERS[10:20]
CHECKOUT_BUYERS = BUYERS[20:30]
CHECKOUT_BASE, RACE_BASE, SCALE_BASE = 20_000, 22_000, 30_000  # outside the holds' URLs
SCALE_HOLDS = (0, 100, 1_000, 5_000, 20_000)
SCALE_PROBES = 50
KEEPALIVE_S = 2.0  # under uvicorn's 5 s: httpx's default 5 s races the server's close
HIGH = BuyerLimits(concurrent_holds=1_000_000, leads_per_day=1_000_000,
                   daily_spend_usd=1e9)


def run_oha(method: str, url_regex: str, key: str, *, rate: int | None, seconds: int,
            connections: int = 32) -> dict[str, Any]:
    args = [oha(), "-m", method, "-z", f"{seconds}s", "-c", str(connections), "--no-tui",
            "--output-format", "json", "--rand-regex-url", url_regex,
            "-H", f"Authorization: Bearer {key}"]
    if rate is not None:
        args += ["-q", str(rate), "--latency-correction"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120,
                         check=True)
    return json.loads(out.stdout)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    pct = result["latencyPercentiles"]
    codes = {int(k): v for k, v in result.get("statusCodeDistribution", {}).items()}
    return {"rps": round(result["summary"]["requestsPerSec"], 1),
            "p50_ms": round(pct["p50"] * 1000, 2), "p99_ms": round(pct["p99"] * 1000, 2),
            "codes": dict(sorted(codes.items())),
            "errors": result.get("errorDistribution", {})}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))]


RETRIED: Counter[str] = Counter()


async def send(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any
               ) -> httpx.Response:
    """One request, sent again once when the connection broke under it (a keep-alive
    connection the server closed as it was reused, on a loaded machine). Safe: a hold by
    PUT and a checkout under its Idempotency-Key answer the same when repeated."""
    try:
        return await http.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        RETRIED[f"{method} {type(exc).__name__}"] += 1
        return await http.request(method, url, **kwargs)


async def _place_all(settings: Settings, numbers: range) -> None:
    among = many_buyers()
    for start in range(numbers.start, numbers.stop, 2000):
        await place(settings, [scored(i) for i in range(start, min(start + 2000,
                                                                   numbers.stop))], among)


async def _rivals_hold(settings: Settings) -> dict[str, str]:
    """Every RIVAL_SHARE-th lead, held by one of the rivals: {lead: rival}."""
    client = aioredis.Redis.from_url(settings.redis_url)
    store = Marketplace(client, TradeKeys(settings.topic_prefix))
    taken: dict[str, str] = {}
    now = int(time.time() * 1000)
    try:
        leads = [f"lead-{i:05d}" for i in range(0, LEADS, RIVAL_SHARE)]
        for n, start in enumerate(range(0, len(leads), 500)):
            rival = RIVALS[n % len(RIVALS)]
            chunk = leads[start:start + 500]
            outcomes = await store.hold(rival, chunk, now, 3_600_000, Limits(0, 0, 0))
            assert {o.result for o in outcomes} == {"held"}
            taken.update(dict.fromkeys(chunk, rival))
    finally:
        await client.aclose()
    return taken


async def _holds_consistent(settings: Settings, rivals: dict[str, str]) -> dict[str, int]:
    """Every hold key agrees with its holder's list and no rival lost a lead: read in one
    transaction, after the requests oha left in flight at its deadline have finished."""
    await asyncio.sleep(2)
    client = aioredis.Redis.from_url(settings.redis_url)
    keys = TradeKeys(settings.topic_prefix)
    buyers = [HOLDER, *RIVALS]
    leads = [f"lead-{i:05d}" for i in range(LEADS)]
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.mget([keys.hold(lead) for lead in leads])
            for buyer in buyers:
                pipe.hgetall(keys.holding(buyer))
            values, *entries = await pipe.execute()
    finally:
        await client.aclose()
    holders = {lead: v.decode().split("|") for lead, v in zip(leads, values, strict=True)
               if v is not None}
    lists = dict(zip(buyers, entries, strict=True))
    stolen = sum(holders.get(lead, [""])[0] != rival for lead, rival in rivals.items())
    disagree = sum(lists.get(buyer, {}).get(lead.encode(), b"").split(b"|")[0].decode() != token
                   for lead, (buyer, token, _) in holders.items())
    return {"held": len(holders), "by_holder": sum(h[0] == HOLDER for h in holders.values()),
            "rivals_lost": stolen, "key_list_disagree": disagree,
            "listed_not_held": sum(len(e) for e in entries) - len(holders)}


def _hold_runs(settings: Settings, keys: dict[str, str], rivals: dict[str, str], tmp: Path
               ) -> dict[str, Any]:
    """Each hold run starts with the holder holding nothing (a hold's cost grows with the
    holder's list, see `_hold_cost`); each release run releases what the run before left."""
    key = keys[HOLDER]
    out: dict[str, Any] = {}
    with api_process(settings, tmp / "api-holds.log") as url:
        pattern = f"{url}/v1/holds/lead-[01][0-9]{{4}}"
        run_oha("PUT", pattern, key, rate=200, seconds=3)  # warm up
        run_oha("DELETE", pattern, key, rate=200, seconds=3)
        for name, rate in (("fixed", FIXED_RATE), ("max", None)):
            asyncio.run(_release_all(settings, HOLDER))
            out[f"hold@{name}"] = summary(run_oha("PUT", pattern, key, rate=rate,
                                                  seconds=SECONDS))
            out[f"state_after_hold@{name}"] = asyncio.run(_holds_consistent(settings, rivals))
            out[f"release@{name}"] = summary(run_oha("DELETE", pattern, key, rate=rate,
                                                     seconds=SECONDS))
            out[f"state_after_release@{name}"] = asyncio.run(
                _holds_consistent(settings, rivals))
    return out


async def _release_all(settings: Settings, buyer: str) -> None:
    client = aioredis.Redis.from_url(settings.redis_url)
    store = Marketplace(client, TradeKeys(settings.topic_prefix))
    try:
        now = int(time.time() * 1000)
        leads = [h.lead_id for h in await store.holds(buyer, now)]
        for start in range(0, len(leads), 500):
            await store.release(buyer, leads[start:start + 500], now)
    finally:
        await client.aclose()


async def _checkouts(url: str, keys: dict[str, str]) -> dict[str, Any]:
    rng = random.Random(11)
    numbers = iter(range(CHECKOUT_BASE, CHECKOUT_BASE + 2 * CHECKOUTS * 5))
    baskets = []
    for n in range(2 * CHECKOUTS):
        buyer = CHECKOUT_BUYERS[n % len(CHECKOUT_BUYERS)]
        baskets.append((buyer, [f"lead-{next(numbers):05d}" for _ in range(rng.randint(1, 5))]))
    timings: dict[str, list[float]] = {"sequential": [], "concurrent": []}
    intents: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=httpx.Limits(max_connections=CONCURRENT,
                                                     keepalive_expiry=KEEPALIVE_S)) as http:
        for buyer, leads in baskets:  # holding is not what is timed here
            held = await http.post("/v1/holds/bulk", json={"lead_ids": leads},
                                   headers=auth(keys[buyer]))
            assert held.json()["counts"] == {"held": len(leads)}, held.text

        async def one(buyer: str, leads: list[str], into: list[float]) -> None:
            started = time.perf_counter()
            answer = await send(http, "POST", "/v1/checkout", json={"lead_ids": leads},
                                headers={**auth(keys[buyer]),
                                         "Idempotency-Key": uuid.uuid4().hex})
            into.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 201, answer.text
            body = answer.json()
            assert sorted(body["lead_ids"]) == sorted(leads) and body["payment_intent"]
            intents.append(body["payment_intent"])

        await one(*baskets[0], [])  # warm up: the Stripe client's first connection
        started = time.perf_counter()
        for buyer, leads in baskets[1:CHECKOUTS]:
            await one(buyer, leads, timings["sequential"])
        sequential_s = time.perf_counter() - started
        gate = asyncio.Semaphore(CONCURRENT)

        async def gated(buyer: str, leads: list[str]) -> None:
            async with gate:
                await one(buyer, leads, timings["concurrent"])

        started = time.perf_counter()
        await asyncio.gather(*(gated(b, leads) for b, leads in baskets[CHECKOUTS:]))
        concurrent_s = time.perf_counter() - started
    assert len(set(intents)) == len(intents) == len(baskets)
    return {name: {"n": len(ms), "p50_ms": round(statistics.median(ms), 1),
                   "p99_ms": round(percentile(ms, 0.99), 1),
                   "per_s": round(len(ms) / seconds, 1)}
            for (name, ms), seconds in zip(timings.items(), (sequential_s, concurrent_s),
                                           strict=True)}


async def _race(urls: tuple[str, str], keys: dict[str, str], settings: Settings
                ) -> dict[str, Any]:
    tally: Counter[str] = Counter()
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    client = aioredis.Redis.from_url(settings.redis_url)
    trade_keys = TradeKeys(settings.topic_prefix)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=RACERS,
                                                                   keepalive_expiry=KEEPALIVE_S)
                                 ) as http:

        async def racer(i: int, buyer: str, lead: str) -> httpx.Response:
            started = time.perf_counter()
            answer = await send(http, "PUT", f"{urls[i % 2]}/v1/holds/{lead}",
                                headers=auth(keys[buyer]))
            latencies.append((time.perf_counter() - started) * 1000)
            return answer

        for t in range(RACE_TRIALS):
            lead = f"lead-{RACE_BASE + t:05d}"
            order = random.Random(t).sample(BUYERS, len(BUYERS))
            answers = await asyncio.gather(*(racer(i, b, lead) for i, b in enumerate(order)))
            codes.update(a.status_code for a in answers)
            winners = [b for b, a in zip(order, answers, strict=True) if a.status_code == 201]
            tally["trials"] += 1
            tally["winners"] += len(winners)
            tally["double_grants"] += len(winners) > 1
            tally["no_winner"] += not winners
            value = await client.get(trade_keys.hold(lead))
            holder = value.decode().split("|")[0] if value else None
            tally["holder_mismatch"] += winners != [holder]
    await client.aclose()
    return {**tally, "codes": dict(sorted(codes.items())),
            "request_p50_ms": round(statistics.median(latencies), 1),
            "request_p99_ms": round(percentile(latencies, 0.99), 1)}


async def _hold_cost(settings: Settings) -> dict[int, dict[str, float]]:
    """Time one hold (and undo it) while one buyer holds more and more leads."""
    buyer = BUYERS[-1]
    probes = [f"lead-{SCALE_BASE + SCALE_HOLDS[-1] + i:05d}" for i in range(SCALE_PROBES)]
    client = aioredis.Redis.from_url(settings.redis_url)
    store = Marketplace(client, TradeKeys(settings.topic_prefix))
    now, held, out = int(time.time() * 1000), 0, {}
    try:
        for target in SCALE_HOLDS:
            while held < target:
                chunk = [f"lead-{SCALE_BASE + i:05d}" for i in range(held, min(target,
                                                                             held + 500))]
                await store.hold(buyer, chunk, now, 3_600_000, Limits(0, 0, 0))
                held += len(chunk)
            timings = []
            for lead in probes:
                started = time.perf_counter()
                (o,) = await store.hold(buyer, [lead], now, 3_600_000, Limits(0, 0, 0))
                timings.append((time.perf_counter() - started) * 1000)
                assert o.result == "held", o
                await store.release(buyer, [lead], now)
            out[target] = {"p50_ms": round(statistics.median(timings), 2),
                           "p99_ms": round(percentile(timings, 0.99), 2)}
    finally:
        await client.aclose()
    return out


def table(results: dict[str, Any]) -> str:
    rows = ["| run | req/s | p50 ms | p99 ms | status codes | holder's holds after |",
            "|---|---|---|---|---|---|"]
    for name in ("hold@fixed", "release@fixed", "hold@max", "release@max"):
        r, state = results["holds"][name], results["holds"][f"state_after_{name}"]
        codes = ", ".join(f"{c}: {n}" for c, n in r["codes"].items())
        rows.append(f"| {name} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                    f"{codes} | {state['by_holder']:,} |")
    for name, r in results["checkout"].items():
        rows.append(f"| checkout {name} (n={r['n']}) | {r['per_s']:,.1f} | {r['p50_ms']:.1f} | "
                    f"{r['p99_ms']:.1f} | all 201 | |")
    race = results["race"]
    rows.append(f"| race: {race['trials']} trials x {RACERS} buyers, 2 API processes | | "
                f"{race['request_p50_ms']:.1f} | {race['request_p99_ms']:.1f} | winners "
                f"{race['winners']}, double grants {race['double_grants']}, no winner "
                f"{race['no_winner']} | |")
    rows += ["", "| buyer's holds | one hold p50 ms | p99 ms |", "|---|---|---|"]
    rows += [f"| {int(n):,} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
             for n, r in results["hold_cost"].items()]
    return "\n".join(rows)


@pytest.mark.timeout(1800)  # minutes on a loaded machine
def test_trade_transactions() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="aiq-bench-trade-"))
    settings = trade_settings(tmp, limits=dict.fromkeys(BUYERS, HIGH),
                              rate_limit_standard="1000000/second",
                              rate_limit_premium="1000000/second")
    results: dict[str, Any] = {}
    RETRIED.clear()
    try:
        asyncio.run(_place_all(settings, range(0, RACE_BASE + RACE_TRIALS)))
        asyncio.run(_place_all(settings, range(SCALE_BASE, SCALE_BASE + SCALE_HOLDS[-1]
                                               + SCALE_PROBES)))
        rivals = asyncio.run(_rivals_hold(settings))
        keys = asyncio.run(keys_for(settings, BUYERS))
        results["holds"] = _hold_runs(settings, keys, rivals, tmp)
        other = settings.model_copy(update={"api_port": settings.api_port + 1})
        with api_process(settings, tmp / "api-1.log") as one, \
                api_process(other, tmp / "api-2.log") as two:
            results["checkout"] = asyncio.run(_checkouts(one, keys))
            results["race"] = asyncio.run(_race((one, two), keys, settings))
        results["hold_cost"] = asyncio.run(_hold_cost(settings))
        results["client_retries"] = dict(RETRIED)
    finally:
        asyncio.run(drop_keys(settings))
    print("\n" + json.dumps(results, indent=1))
    print(table(results))
    out = os.environ.get("AIQ_BENCH_JSON")
    if out:
        Path(out).write_text(json.dumps(results, indent=1))

    holds = results["holds"]
    for name in ("hold@fixed", "hold@max"):
        assert set(holds[name]["codes"]) <= {201, 409}, holds[name]
        assert holds[name]["codes"].get(409), "rivals' leads answer 409"
    for name in ("release@fixed", "release@max"):
        assert set(holds[name]["codes"]) <= {200, 404}, holds[name]
    for state in (k for k in holds if k.startswith("state_after_")):
        s = holds[state]
        assert s["rivals_lost"] == 0 and s["key_list_disagree"] == 0, s
        assert s["listed_not_held"] == 0, s
    race = results["race"]
    assert race["double_grants"] == 0 and race["no_winner"] == 0, race
    assert race["holder_mismatch"] == 0 and set(race["codes"]) == {201, 409}, race
