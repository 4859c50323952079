"""The pipeline benchmark: `aiqleads bench pipeline`, and `make bench` (bench_pipeline.py).

One sitting, against the services already running (`aiqleads up`, or the shared ones), each
run under its own topic prefix (the Redis key prefix too) and, on the server backend, its
own database:

0. **Warm-up** (not measured): `BROKER_WARM_EVENTS` events through one worker, so that no
   figure pays for the JIT compilation of a broker that has just started.
1. **Passthrough**: a no-op Faust agent (`infra.demo.passthrough`: consume → `send` per
   event, the worker's broker settings) over a pre-filled topic: the framework's ceiling.
2. **Saturation**, for 1 and 2 `aiqleads worker` processes in one consumer group on each
   backend: workers started and warmed (200 leads), then `traffic`: `aiqleads run`'s mix
   (all five sources, 3 % malformed, 3 % labelled fraud, 3 % re-sent duplicates; before
   2026-12-07 20:00 portal and facebook only, no labelled fraud or duplicates) produced
   flat out. Leads/s is the slope of `aiq_rows_landed_total{table="leads"}` summed over the
   workers' /metrics, sampled every 0.5 s, over at most `seconds` after landing starts.
   CPU seconds per process come from /proc over the same window. What the whole run
   (producing to drained) cost the machine a lead, by role (workers, broker, Redis,
   ClickHouse, this bench, the rest) and the Kafka records it wrote a lead, by topic, say
   what bounds the rate: on two cores, `ceiling` is 2 s of CPU a second over that cost.
3. **Latency at half the 1-worker maximum** (half its drained rate, the one every consumer
   group sustains, not the landing rate alone), on the worker of the 1-worker saturation
   run once every group has caught up: the steady state after a burst, which is what a
   buyer meets (until 2026-12-07 14:00 a fresh worker, warmed 15 s at the pace: a worker
   just started meets every cell, contact and ring for the first time). The first
   `PACED_SETTLE_SECONDS` of paced traffic are not measured; then produce → scored
   (`scored_ms`), → landed (`ingested_ms`) from the landed rows, → visible in Redis from
   the lead's entry in the feed stream (the entry id is Redis's own clock when the lead
   was placed; until 2026-12-08 its entry in a per-cell stream, written in the same
   script call).

The Kafka timestamp of each raw event (CreateTime, set by the producing client) is
"produce". Results: one printed table, `--json FILE` (keys below), and a PNG of
throughput and latency over time.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Producer

from infra.demo.usage import (
    ROLES,
    ceiling_leads_per_s,
    cpu_seconds,
    cpu_snapshot,
    cpu_us_per_lead,
    records_by_topic,
)
from infra.kafka.admin import KEY_PARTITIONER, delete_prefixed_topics, ensure_topics
from infra.redis_store import KeyLayout
from infra.settings import Settings
from infra.stack.ports import free_port
from infra.warehouse.query import run_query
from infra.warehouse.url import ServerUrl, parse_url
from schemas.contract import SOURCES, raw_topic
from streams.traffic.generator import (
    DEMO_DUPLICATE_SHARE,
    DEMO_FRAUD_SHARE,
    GeneratedEvent,
    generate,
)

WARM_EVENTS = 200
BROKER_WARM_EVENTS = 40_000
PACED_SETTLE_SECONDS = 5.0
SAMPLE_SECONDS = 0.5
DRAIN_TIMEOUT = 300.0  # seconds for every group to catch up after a saturation run
_LANDED = 'aiq_rows_landed_total{table="leads"}'


def traffic(count: int, seed: int, malformed_share: float = 0.03) -> list[GeneratedEvent]:
    """`count` events of the demo's mix: every source, labelled fraud and duplicates (the
    pull-backs, relinks and re-sends they cause are part of what a lead costs)."""
    return generate(count, sources=SOURCES, seed=seed, malformed_share=malformed_share,
                    fraud_share=DEMO_FRAUD_SHARE, duplicate_share=DEMO_DUPLICATE_SHARE)


def _env(settings: Settings, tree: str | None) -> dict[str, str]:
    env = {**os.environ,
           "AIQ_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "AIQ_REDIS_URL": settings.redis_url,
           "AIQ_CLICKHOUSE_URL": settings.clickhouse_url,
           "AIQ_STATE_DIR": str(settings.state_dir),
           "AIQ_TOPIC_PREFIX": settings.topic_prefix,
           "AIQ_WORKER_WEB_PORT": str(settings.worker_web_port)}
    if tree:  # run another checkout's worker (before/after comparisons in one sitting)
        env["PYTHONPATH"] = tree
    return env


class Process:
    """A child process (worker or passthrough) with its log file."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path,
                 cwd: str | None = None) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        # `python -m` puts the working directory first on sys.path: run another checkout
        # from inside it, or PYTHONPATH alone would lose to this one.
        self.popen = subprocess.Popen(list(args), env=env, stdout=self._log, cwd=cwd,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def terminate(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.alive():
            self.terminate()
            try:
                self.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._log.close()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def produce(settings: Settings, events: Sequence[GeneratedEvent], rate: float = 0) -> None:
    """Send `events` to their raw topics (flat out when `rate` is 0) and wait for the acks."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5,
                         "acks": "all", "partitioner": KEY_PARTITIONER,
                         "queue.buffering.max.messages": 1_000_000})
    started = time.monotonic()
    for i, event in enumerate(events):
        while True:
            try:
                producer.produce(settings.topic(raw_topic(event.source)), event.value,
                                 key=event.key, headers=list(event.headers.items()))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        if rate:
            ahead = started + (i + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    if producer.flush(60):
        raise RuntimeError("the broker did not take every benchmark event within 60 s")


# --- the passthrough ---------------------------------------------------------------------


def passthrough(base: Settings, count: int, work: Path, tree: str | None = None) -> float:
    """Messages/s of a no-op Faust agent over `count` pre-produced ~450-byte messages."""
    from infra.demo.passthrough import IN_TOPIC

    settings = base.model_copy(update={"topic_prefix": f"bp{uuid.uuid4().hex[:8]}.",
                                       "state_dir": work / "passthrough"})
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    _create_topics(settings, [settings.topic(IN_TOPIC)])
    value = generate(1, seed=5)[0].value
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5,
                         "partitioner": KEY_PARTITIONER,
                         "queue.buffering.max.messages": 1_000_000})
    for i in range(count):
        producer.produce(settings.topic(IN_TOPIC), value, key=str(i).encode())
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)
    env = {**_env(settings, tree), "AIQ_BENCH_COUNT": str(count)}
    log_path = work / "passthrough.log"
    proc = Process([sys.executable, "-m", "infra.demo.passthrough"], env, log_path)
    try:
        def finished() -> bool:
            if not proc.alive():
                raise RuntimeError(f"passthrough exited:\n{proc.tail()}")
            return '"msgs_per_s"' in log_path.read_text(errors="replace")

        if not wait_until(finished, timeout=300):
            raise TimeoutError(f"passthrough did not finish:\n{proc.tail()}")
        line = next(x for x in log_path.read_text().splitlines() if '"msgs_per_s"' in x)
        return float(json.loads(line[line.index("{"):])["msgs_per_s"])
    finally:
        proc.stop()
        delete_prefixed_topics(settings)


def _create_topics(settings: Settings, names: Sequence[str]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    for future in admin.create_topics(
            [NewTopic(n, num_partitions=settings.topic_partitions, replication_factor=1)
             for n in names]).values():
        future.result(timeout=30)


# --- the pipeline ------------------------------------------------------------------------


@dataclass
class Cluster:
    """`workers` worker processes in one consumer group, each with its own web port."""

    settings: list[Settings]
    procs: list[Process] = field(default_factory=list)

    def landed(self) -> float:
        total = 0.0
        for s in self.settings:
            text = httpx.get(f"http://127.0.0.1:{s.worker_web_port}/metrics", timeout=30).text
            for line in text.splitlines():
                if line.startswith(_LANDED):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        # Every worker is told at once: one after the other took a second more a worker.
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.stop()


def _backend_url(backend: str, work: Path, server_url: str, name: str) -> str:
    if backend == "chdb":
        return f"chdb://{work / name / 'warehouse'}"
    target = parse_url(server_url)
    assert isinstance(target, ServerUrl), f"{server_url} is not a clickhouse:// URL"
    return (f"clickhouse://{target.user}:{target.password}@{target.host}:{target.port}"
            f"/aiqleads_b{uuid.uuid4().hex[:10]}")


def start_worker(settings: Settings, log_path: Path, tree: str | None = None) -> Process:
    """An `aiqleads worker` process with `settings`, from `tree` (None: this checkout)."""
    return Process([sys.executable, "-m", "infra.cli", "worker"], _env(settings, tree),
                   log_path, tree)


def wait_ready(settings: Settings, worker: Process, timeout: float = 180.0,
               interval: float = 0.3) -> None:
    """Until the worker's /readyz answers 200; RuntimeError if it exits, else TimeoutError."""
    url = f"http://127.0.0.1:{settings.worker_web_port}/readyz"

    def ready() -> bool:
        if not worker.alive():
            raise RuntimeError(f"worker exited:\n{worker.tail()}")
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_until(ready, timeout, interval):
        raise TimeoutError(f"worker not ready:\n{worker.tail()}")


def warm(cluster: Cluster, events: int, seed: int) -> None:
    """`events` generated events flat out through `cluster`, until they landed."""
    start = cluster.landed()
    produce(cluster.settings[0], traffic(events, seed=seed, malformed_share=0.0))
    if not wait_until(lambda: cluster.landed() >= start + events * 0.95, timeout=300):
        raise TimeoutError(f"the warm-up did not land:\n{cluster.procs[0].tail()}")


def start_cluster(base: Settings, backend: str, workers: int, work: Path, server_url: str,
                  tree: str | None) -> Cluster:
    prefix = f"bq{uuid.uuid4().hex[:8]}."
    shared_url = _backend_url(backend, work, server_url, prefix)
    settings = []
    for i in range(workers):
        name = f"{prefix}w{i}"
        # chdb is one process per path: each worker of the embedded backend has its own.
        url = _backend_url(backend, work, server_url, name) if backend == "chdb" else shared_url
        settings.append(base.model_copy(update={
            "topic_prefix": prefix, "clickhouse_url": url, "state_dir": work / name / "state",
            "worker_web_port": free_port()}))
    ensure_topics(settings[0])
    cluster = Cluster(settings)
    for s in settings:
        cluster.procs.append(start_worker(s, work / f"{s.topic_prefix}{s.worker_web_port}.log",
                                          tree))
    try:
        for s, proc in zip(settings, cluster.procs, strict=True):
            wait_ready(s, proc)
        warm(cluster, WARM_EVENTS, seed=999)
    except (TimeoutError, RuntimeError):
        cluster.stop()
        raise
    time.sleep(1.0)  # let the warm-up's last batch land everywhere
    return cluster


def saturate(cluster: Cluster, events: Sequence[GeneratedEvent], seconds: float) -> dict:
    """Produce `events` flat out; landed leads/s over at most `seconds` of landing."""
    start = cluster.landed()
    samples: list[tuple[float, float]] = []
    settings = cluster.settings[0]
    workers = [p.pid for p in cluster.procs]
    records_before = records_by_topic(settings.kafka_bootstrap, settings.topic_prefix)
    usage_before = cpu_snapshot(workers)
    producing = threading.Thread(target=produce, args=(settings, events))
    t0 = time.monotonic()
    producing.start()
    target = start + sum(e.valid for e in events) * 0.98
    cpu_start: dict[int, float] = {}
    began = ended = None
    while True:
        time.sleep(SAMPLE_SECONDS)
        now, landed = time.monotonic(), cluster.landed()
        samples.append((now - t0, landed - start))
        if began is None and landed > start + len(events) * 0.01:
            began = now
            cpu_start = {p.pid: cpu_seconds(p.pid) for p in cluster.procs}
        if began is not None and (landed >= target or now - began >= seconds):
            ended = now
            break
        if now - t0 > seconds + 300:
            raise TimeoutError(f"nothing landed:\n{cluster.procs[0].tail()}")
    cpu = {p.pid: cpu_seconds(p.pid) - cpu_start.get(p.pid, 0.0) for p in cluster.procs}
    producing.join()
    window = [(t, n) for t, n in samples if t >= began - t0]
    (t_a, n_a), (t_b, n_b) = window[0], window[-1]
    rate = (n_b - n_a) / (t_b - t_a) if t_b > t_a else 0.0
    span = ended - began
    # Landing is one consumer of several: a rate the others cannot follow is not sustained.
    behind_at_end = behind(settings)
    wait_until(lambda: not any(behind(settings).values()), timeout=DRAIN_TIMEOUT, interval=0.5)
    drained = time.monotonic()
    # What the whole run, producing to drained, cost the machine a lead landed.
    leads = cluster.landed() - start
    cpu_per_lead = cpu_us_per_lead(usage_before, cpu_snapshot(workers), leads)
    records_after = records_by_topic(settings.kafka_bootstrap, settings.topic_prefix)
    records = {topic: n - records_before.get(topic, 0) for topic, n in records_after.items()}
    return {"leads_per_s": rate, "samples": samples, "window_s": span,
            "cpu_per_process": [round(c / span, 2) for c in cpu.values()],
            "behind_at_end": behind_at_end, "drained_after_s": round(drained - ended, 1),
            # Leads landed after the window still count: every group followed them.
            "drained_leads_per_s": (cluster.landed() - start) / (drained - began),
            "cpu_us_per_lead": cpu_per_lead,
            "ceiling_leads_per_s": round(ceiling_leads_per_s(cpu_per_lead)),
            "records_per_lead": {topic: round(n / leads, 2) for topic, n in
                                 sorted(records.items()) if n and leads}}


def behind(settings: Settings) -> dict[str, int]:
    """Messages each of the run's consumer groups has not committed, by group suffix
    (`ingest`, `serve`; Faust's own group is the app id: learning and the `land_*` agents)."""
    from infra.ops.lag import LagMonitor

    snapshot = LagMonitor.from_settings(settings, publish=False).poll()
    if snapshot.error is not None:
        raise RuntimeError(snapshot.error)
    prefix = f"{settings.topic_prefix}{settings.app_id}"
    return {(g.group.removeprefix(prefix).lstrip("-") or settings.app_id): g.lag
            for g in snapshot.groups}


def _quantiles(values: Sequence[float]) -> tuple[float, float, float]:
    import numpy as np

    if not len(values):
        return (float("nan"),) * 3
    p50, p95, p99 = np.percentile(np.asarray(values, dtype=float), [50, 95, 99])
    return float(p50), float(p95), float(p99)


def redis_visible_ms(settings: Settings, since_ms: int = 0) -> dict[str, int]:
    """lead_id → Redis's clock (ms) when the lead first entered the feed stream."""
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    seen: dict[str, int] = {}
    after = f"{since_ms}-0"
    try:
        while entries := client.xrange(KeyLayout(settings.topic_prefix).all_feed(),
                                       min=after, count=10_000):
            for entry_id, fields in entries:
                lead_id = fields.get(b"lead_id")
                if fields.get(b"kind") == b"lead" and lead_id is not None:
                    seen.setdefault(lead_id.decode(), int(entry_id.split(b"-")[0]))
            after = f"({entries[-1][0].decode()}"
    finally:
        client.close()
    return seen


def paced(cluster: Cluster, events: Sequence[GeneratedEvent], rate: float) -> dict:
    """Latency percentiles for `events` produced at `rate` per second."""
    settings = cluster.settings[0]
    since_ms = int(time.time() * 1000)
    start = cluster.landed()
    produce(settings, events, rate=rate)
    target = start + sum(e.valid for e in events) * 0.98
    wait_until(lambda: cluster.landed() >= target, timeout=120)
    time.sleep(2.0)
    rows = run_query(settings, "SELECT lead_id, produced_ms, scored_ms, ingested_ms FROM leads "
                               f"WHERE produced_ms >= {since_ms}").rows
    first: dict[str, tuple[int, int, int]] = {}
    for lead_id, produced, scored, ingested in rows:  # pull-backs re-land: keep the first
        if lead_id not in first or ingested < first[lead_id][2]:
            first[lead_id] = (produced, scored, ingested)
    visible = redis_visible_ms(settings, since_ms)
    to_scored = [s - p for p, s, _ in first.values()]
    to_landed = [i - p for p, _, i in first.values()]
    to_redis = [visible[k] - v[0] for k, v in first.items() if k in visible]
    series = sorted(((p, i - p, visible[k] - p if k in visible else None)
                     for k, (p, _, i) in first.items()), key=lambda x: x[0])
    return {"rate": rate, "leads": len(first), "in_redis": len(to_redis),
            "scored_ms": _quantiles(to_scored), "landed_ms": _quantiles(to_landed),
            "redis_ms": _quantiles(to_redis), "series": series}


def settle_then_paced(cluster: Cluster, rate: float, seconds: float) -> dict:
    """`paced` after `PACED_SETTLE_SECONDS` of the same traffic, not measured (the worker
    goes from a burst to a steady pace)."""
    produce(cluster.settings[0], traffic(int(rate * PACED_SETTLE_SECONDS), seed=302), rate)
    return paced(cluster, traffic(int(rate * seconds), seed=303), rate)


@dataclass
class BenchConfig:
    seconds: float = 30.0
    backends: tuple[str, ...] = ("chdb", "server")
    workers: tuple[int, ...] = (1, 2)
    events: int = 60_000
    passthrough_messages: int = 30_000
    server_url: str = "clickhouse://default:@127.0.0.1:9000/aiqleads"
    tree: str | None = None  # another checkout to run the workers from
    label: str = "this tree"


def unreachable(base: Settings, config: BenchConfig) -> list[str]:
    """What the bench needs and cannot reach, each with what to do; empty when all answer.

    Asked before anything runs: a missing ClickHouse server otherwise shows up minutes in,
    as a worker's traceback, after the chdb runs (`aiqleads up` starts a server only when
    `AIQ_CLICKHOUSE_URL` names one)."""
    from infra.health import check_clickhouse, check_kafka, check_redis

    problems = []
    kafka = check_kafka(base.kafka_bootstrap)
    if not kafka.ok:
        problems.append(f"Kafka: {kafka.reason} (start the services: aiqleads up)")
    redis_ = check_redis(base.redis_url)
    if not redis_.ok:
        problems.append(f"Redis: {redis_.reason} (start the services: aiqleads up)")
    if "server" in config.backends:
        server = check_clickhouse(base.model_copy(update={"clickhouse_url": config.server_url}))
        if not server.ok:
            problems.append(
                f"ClickHouse server: {server.reason} (start one with AIQ_CLICKHOUSE_URL="
                f"{config.server_url} aiqleads up, point --server-url at one, or bench only "
                "the embedded warehouse: --backend chdb)")
    return problems


class Runs:
    """Starts each run's workers, and stops them and forgets the run (`forget_run`) after
    it in the background, while the next run's workers start: ~4 s a run saved, which
    keeps the short form under five minutes. Nothing is measured before `settle`."""

    def __init__(self, base: Settings, config: BenchConfig, work: Path) -> None:
        self.base, self.config, self.work = base, config, work
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forget-run")
        self._forgetting: list[Future[None]] = []

    @contextmanager
    def cluster(self, backend: str, workers: int) -> Iterator[Cluster]:
        cluster = start_cluster(self.base, backend, workers, self.work, self.config.server_url,
                                self.config.tree)
        try:
            self.settle()
            yield cluster
        finally:
            cluster.stop()
            self._forgetting.append(self._pool.submit(forget_run, cluster.settings[0]))

    def settle(self) -> None:
        """Wait for the clean-ups still running (and raise their failures)."""
        while self._forgetting:
            self._forgetting.pop(0).result()

    def close(self) -> None:
        try:
            self.settle()
        finally:
            self._pool.shutdown()




def run(base: Settings, config: BenchConfig, work: Path,
        say: Callable[[str], None] = print) -> dict:
    """The whole bench in one sitting; returns every figure (see `summary` for the JSON)."""
    work.mkdir(parents=True, exist_ok=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per scrape otherwise
    result: dict = {"label": config.label, "runs": []}
    runs = Runs(base, config, work)
    try:
        # A broker just started runs its first minute of load partly in the JVM's compiler:
        # the first run after `aiqleads up` cost it 200-275 µs a lead, the same run warm ~100.
        say(f"warm-up: {BROKER_WARM_EVENTS} events through one worker (not measured)")
        with runs.cluster(config.backends[0], 1) as cluster:
            warm(cluster, BROKER_WARM_EVENTS, seed=998)
        runs.settle()
        say(f"passthrough: {config.passthrough_messages} messages")
        # The framework's ceiling does not depend on the tree under test: always this one's.
        result["passthrough_msgs_per_s"] = passthrough(base, config.passthrough_messages, work)
        say(f"  {result['passthrough_msgs_per_s']:.0f} msg/s")
        events = traffic(config.events, seed=101)
        for backend in config.backends:
            for n in config.workers:
                say(f"saturation: {backend}, {n} worker(s), {len(events)} events, "
                    f"≤{config.seconds:.0f}s")
                with runs.cluster(backend, n) as cluster:
                    sat = saturate(cluster, events, config.seconds)
                    say(f"  {sat['leads_per_s']:.0f} leads/s, CPU {sat['cpu_per_process']}")
                    run_ = {"backend": backend, "workers": n, **sat}
                    result["runs"].append(run_)
                    if n == 1:
                        # Half of the drained rate, the one every consumer group sustains
                        # (events/s: 3 % of them are malformed and never become leads).
                        rate = max(50.0, run_["drained_leads_per_s"] / 0.97 / 2)
                        seconds = min(config.seconds, 20)
                        say(f"latency: {backend}, the same worker paced at {rate:.0f}/s, "
                            f"{PACED_SETTLE_SECONDS:.0f} s to settle, then {seconds:.0f} s "
                            "measured")
                        run_["paced"] = settle_then_paced(cluster, rate, seconds)
    finally:
        runs.close()
    return result


def forget_run(settings: Settings) -> None:
    """Drop what a run left behind: its topics, its Redis keys, its server database.

    Each run has its own prefix: hundreds of benches' topics and serving keys otherwise
    stay in the stack that `make test` also uses, slowing the broker and Redis's start."""
    import redis

    delete_prefixed_topics(settings)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        keys = list(client.scan_iter(match=f"{settings.topic_prefix}*", count=10_000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start:start + 1000])
    finally:
        client.close()
    target = parse_url(settings.clickhouse_url)
    if isinstance(target, ServerUrl):
        from clickhouse_driver import Client

        Client(host=target.host, port=target.port, user=target.user,
               password=target.password).execute(f"DROP DATABASE IF EXISTS `{target.database}`")


def summary(result: dict) -> dict:
    """The JSON the issue asks for (first backend's 1-worker figures at the top level)."""
    runs = result["runs"]
    # The first backend's runs (`--workers 2` alone has no 1-worker or paced figures).
    backend = runs[0]["backend"]
    one = next((r for r in runs if r["workers"] == 1 and r["backend"] == backend), None)
    two = next((r for r in runs if r["workers"] == 2 and r["backend"] == backend), None)
    paced = one.get("paced") if one else None

    def p99(figures: dict | None, key: str) -> float | None:
        return round(figures[key][2], 1) if figures else None

    out = {
        "passthrough_msgs_per_s": round(result["passthrough_msgs_per_s"], 1),
        "e2e_leads_per_s": round(one["leads_per_s"], 1) if one else None,
        "e2e_leads_per_s_2_workers": round(two["leads_per_s"], 1) if two else None,
        "drained_leads_per_s": round(one["drained_leads_per_s"], 1) if one else None,
        "drained_leads_per_s_2_workers": round(two["drained_leads_per_s"], 1) if two else None,
        "ratio_to_passthrough": (round(one["leads_per_s"] / result["passthrough_msgs_per_s"], 3)
                                 if one else None),
        "p99_landed_ms": p99(paced, "landed_ms"),
        "p99_redis_ms": p99(paced, "redis_ms"),
        "backend": backend,
        "label": result["label"],
        "by_backend": {},
    }
    for r in runs:
        entry = out["by_backend"].setdefault(r["backend"], {})
        entry[f"leads_per_s_{r['workers']}_workers"] = round(r["leads_per_s"], 1)
        entry[f"cpu_per_process_{r['workers']}_workers"] = r["cpu_per_process"]
        entry[f"drained_leads_per_s_{r['workers']}_workers"] = round(r["drained_leads_per_s"], 1)
        entry[f"behind_at_end_{r['workers']}_workers"] = r["behind_at_end"]
        entry[f"cpu_us_per_lead_{r['workers']}_workers"] = r["cpu_us_per_lead"]
        entry[f"ceiling_leads_per_s_{r['workers']}_workers"] = r["ceiling_leads_per_s"]
        entry[f"records_per_lead_{r['workers']}_workers"] = r["records_per_lead"]
        if "paced" in r:
            p = r["paced"]
            entry.update({"paced_rate": round(p["rate"], 1),
                          **{f"{k}_p50_p95_p99": [round(x, 1) for x in p[k]]
                             for k in ("scored_ms", "landed_ms", "redis_ms")}})
    return out


def table(result: dict) -> str:
    pt = result["passthrough_msgs_per_s"]
    lines = [f"Pipeline bench ({result['label']}): no-op Faust passthrough {pt:,.0f} msg/s",
             f"{'backend':<8}{'workers':>8}{'leads/s':>9}{'÷pass':>7}{'drained/s':>10}"
             f"{'CPU/proc':>14}"
             f"{'paced/s':>9}{'→scored p50/95/99 ms':>24}{'→landed p50/95/99 ms':>24}"
             f"{'→Redis p50/95/99 ms':>24}"]
    for r in result["runs"]:
        cpu = "/".join(f"{c:.2f}" for c in r["cpu_per_process"])
        row = (f"{r['backend']:<8}{r['workers']:>8}{r['leads_per_s']:>9,.0f}"
               f"{r['leads_per_s'] / pt:>7.2f}{r['drained_leads_per_s']:>10,.0f}{cpu:>14}")
        if "paced" in r:
            p = r["paced"]
            row += f"{p['rate']:>9.0f}" + "".join(
                f"{'/'.join(f'{x:.0f}' for x in p[k]):>24}"
                for k in ("scored_ms", "landed_ms", "redis_ms"))
        lines.append(row)
    lines.append("drained/s: leads over the time until every group (landing, serving, "
                 "learning) had committed all of them; behind when landing finished:")
    for r in result["runs"]:
        lines.append(f"  {r['backend']}, {r['workers']} worker(s): "
                     + ", ".join(f"{g} {n:,}" for g, n in sorted(r["behind_at_end"].items()))
                     + f"; all caught up {r['drained_after_s']:.0f} s later")
    lines.append("CPU µs a lead, the whole machine from producing to drained, and what that "
                 "cost allows with every core busy; Kafka records a lead:")
    for r in result["runs"]:
        cost = r["cpu_us_per_lead"]
        lines.append(f"  {r['backend']}, {r['workers']} worker(s): "
                     + " + ".join(f"{role} {cost[role]:,.0f}" for role in cost
                                  if role != "machine")
                     + f" = {cost.get('machine', 0):,.0f} → ceiling "
                     f"{r['ceiling_leads_per_s']:,.0f} leads/s; "
                     f"{sum(r['records_per_lead'].values()):.1f} records")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    """Throughput (saturation runs) and latency (paced runs) over time, and what a lead
    cost the machine by role, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom, cost) = plt.subplots(
        3, 1, figsize=(10, 11), gridspec_kw={"height_ratios": [3, 3, 2]})
    for r in result["runs"]:
        samples = r["samples"]
        xs = [t for t, _ in samples[1:]]
        ys = [(b - a) / (tb - ta) for (ta, a), (tb, b) in itertools.pairwise(samples)]
        top.plot(xs, ys, label=f"{r['backend']}, {r['workers']} worker(s)")
    top.set(title=f"Saturation: leads landed per second ({result['label']})",
            xlabel="seconds since producing began", ylabel="leads/s")
    top.legend()
    for r in result["runs"]:
        if "paced" not in r:
            continue
        series = r["paced"]["series"]
        if not series:
            continue
        t0 = series[0][0]
        bottom.plot([(p - t0) / 1000 for p, _, _ in series], [ms for _, ms, _ in series],
                    ".", ms=2, label=f"{r['backend']}: produce → landed")
        red = [(p, ms) for p, _, ms in series if ms is not None]
        bottom.plot([(p - t0) / 1000 for p, _ in red], [ms for _, ms in red], ".", ms=2,
                    label=f"{r['backend']}: produce → Redis")
    if bottom.has_data():
        bottom.set(title="Latency per lead at half the 1-worker maximum", xlabel="seconds",
                   ylabel="ms", yscale="log")
        bottom.legend(markerscale=4)
    else:  # --workers 2 alone: no paced run
        bottom.set_axis_off()
        bottom.text(0.5, 0.5, "no paced run (latency is measured with one worker)",
                    ha="center", va="center", transform=bottom.transAxes)
    _plot_cost(cost, result["runs"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_cost(axes: Any, runs: Sequence[dict]) -> None:
    """One stacked bar a saturation run: CPU µs a lead by role, the ceiling beside it."""
    names = [f"{r['backend']}, {r['workers']} worker(s)" for r in runs]
    left = [0.0] * len(runs)
    for role in ROLES:
        widths = [r["cpu_us_per_lead"].get(role, 0.0) for r in runs]
        axes.barh(names, widths, left=left, label=role)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, (r, total) in enumerate(zip(runs, left, strict=True)):
        axes.text(total, y, f"  {total:,.0f} µs → ≤ {r['ceiling_leads_per_s']:,.0f} leads/s",
                  va="center", fontsize=8)
    axes.set(title="CPU a lead, the whole machine (producing → drained)",
             xlabel="µs of CPU a lead", xlim=(0, max(left, default=1) * 2))
    axes.invert_yaxis()
    axes.legend(fontsize=8, loc="center right")
