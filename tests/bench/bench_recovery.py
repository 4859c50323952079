"""How long a worker takes to come back: restart → ready, against the changelogs' size.

One `aiqleads worker` (embedded chdb, the services of `aiqleads up` or `make bench`) scores
`--events` generated events until every consumer group has committed them, and stops;
then it is started and stopped (SIGTERM, so it leaves the group and the next start waits
for no expired session) `--restarts` times, and each start is timed to `/readyz` answering
200: table recovery done and the streams at their committed offsets. With `--tree DIR` the
restarts alternate between this checkout's worker and DIR's (e.g. `git archive <commit> |
tar -x -C DIR`) over the same topics, for a before/after in one sitting. It prints the
changelog records the tables hold, each start's seconds, and what this tree's bulk read
logged (`agents.table_store`).

Run: `make bench`, or `.venv/bin/python -m tests.bench.bench_recovery [--events N]
[--restarts N] [--tree DIR]`.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from infra.demo.bench import (
    Cluster,
    Process,
    behind,
    forget_run,
    produce,
    start_worker,
    wait_ready,
    wait_until,
)
from infra.settings import Settings
from infra.stack.ports import free_port
from streams.traffic.generator import generate

pytestmark = [pytest.mark.bench, pytest.mark.integration]

BULK_READ = re.compile(r"read (\d+) changelog records of (\d+) partitions in ([\d.]+) s")


def changelog_records(settings: Settings) -> int:
    """Records the run's table changelogs hold (high - low watermark, every partition)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"bench-{uuid.uuid4().hex[:8]}"})
    try:
        topics = consumer.list_topics(timeout=10).topics
        total = 0
        for name, meta in topics.items():
            if name.startswith(settings.topic_prefix) and name.endswith("-changelog"):
                for p in meta.partitions:
                    low, high = consumer.get_watermark_offsets(TopicPartition(name, p), 10)
                    total += high - low
        return total
    finally:
        consumer.close()


def start(settings: Settings, work: Path, tree: str | None, name: str) -> tuple[Process, float]:
    """A worker from `tree` (None: this one), and the seconds until it was ready."""
    started = time.monotonic()
    worker = start_worker(settings, work / f"{name}.log", tree)
    wait_ready(settings, worker, timeout=600, interval=0.1)
    return worker, time.monotonic() - started


def run(events: int, restarts: int, tree: str | None, work: Path) -> str:
    settings = Settings(clickhouse_url=f"chdb://{work / 'warehouse'}", state_dir=work / "state",
                        topic_prefix=f"br{uuid.uuid4().hex[:8]}.", worker_web_port=free_port())
    try:
        worker, _ = start(settings, work, None, "fill")
        cluster = Cluster([settings], [worker])
        produce(settings, generate(events, seed=31, malformed_share=0.0))
        # Landed, then every group (ingest, serve, learning, landing) committed everything:
        # the tables hold all the run wrote, and the restarts read changelogs, no backlog.
        if not (wait_until(lambda: cluster.landed() >= events * 0.95, timeout=900, interval=1.0)
                and wait_until(lambda: sum(behind(settings).values()) == 0, timeout=300,
                               interval=1.0)):
            raise TimeoutError(f"the events did not land:\n{worker.tail()}")
        worker.stop()
        records = changelog_records(settings)
        trees = [None, tree] if tree else [None]
        seconds: dict[str | None, list[float]] = {t: [] for t in trees}
        reads: list[str] = []
        for i in range(restarts):
            for t in trees:
                name = f"{'this' if t is None else 'other'}-{i}"
                worker, took = start(settings, work, t, name)
                worker.stop()
                seconds[t].append(took)
                found = BULK_READ.findall(worker.log_path.read_text(errors="replace"))
                if t is None and found:
                    reads.append(f"{int(found[-1][0]):,} records of {found[-1][1]} partitions "
                                 f"in {found[-1][2]} s")
    finally:
        forget_run(settings)
    lines = [f"{events:,} events scored; the tables' changelogs hold {records:,} records",
             "", "| worker | restart → ready, s (each) | median |", "|---|---|---|"]
    for t, took in seconds.items():
        label = "this tree" if t is None else t
        lines.append(f"| {label} | {', '.join(f'{s:.1f}' for s in took)} | "
                     f"{statistics.median(took):.1f} |")
    if reads:
        lines += ["", "this tree's bulk read: " + "; ".join(reads)]
    return "\n".join(lines)


def test_restart_time(tmp_path: Path) -> None:
    report = run(60_000, 3, None, tmp_path)
    print("\n\n" + report)
    assert "bulk read" in report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--tree", help="another checkout's worker, alternating with this one")
    args = parser.parse_args()
    print(run(args.events, args.restarts, args.tree,
              Path(tempfile.mkdtemp(prefix="aiq-recovery-"))))
