"""Test harness: a real `aiqleads worker` subprocess, a foreign producer, warehouse counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from infra.kafka.admin import KEY_PARTITIONER
from infra.settings import Settings
from infra.stack.ports import free_port
from infra.warehouse.query import run_query
from schemas.contract import raw_topic
from streams.traffic.generator import GeneratedEvent

# Keys a Redis SCAN step looks at: the test Redis holds every earlier test's keys, and at
# SCAN's default of 10 a test's cleanup took ~4 s in round trips.
SCAN_COUNT = 10_000


def own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefix: str,
                 **overrides: Any) -> Settings:
    """A test's own state dir, topics and worker port, and `overrides`, which also go into
    the environment the worker subprocess inherits."""
    for name, value in overrides.items():
        monkeypatch.setenv(f"AIQ_{name.upper()}", str(value))
    return Settings(state_dir=tmp_path / "state", topic_prefix=f"{prefix}{uuid.uuid4().hex[:10]}.",
                    worker_web_port=free_port(), land_batch_seconds=0.2, **overrides)


def topics_named(bootstrap: str, wanted: Callable[[str], bool]) -> list[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return [name for name in admin.list_topics(timeout=10).topics if wanted(name)]


def delete_topics(bootstrap: str, names: list[str]) -> None:
    if not names:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names, operation_timeout=10).values():
        future.result(timeout=15)


def settings_env(settings: Settings) -> dict[str, str]:
    return {
        "AIQ_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "AIQ_KAFKA_REPLICATION": str(settings.kafka_replication),
        "AIQ_REDIS_URL": settings.redis_url,
        "AIQ_CLICKHOUSE_URL": settings.clickhouse_url,
        "AIQ_STATE_DIR": str(settings.state_dir),
        "AIQ_TOPIC_PREFIX": settings.topic_prefix,
        "AIQ_WORKER_WEB_PORT": str(settings.worker_web_port),
        "AIQ_LAND_BATCH_SECONDS": str(settings.land_batch_seconds),
        "AIQ_PRIORITY_WINDOW_SECONDS": str(settings.priority_window_seconds),
        **({"AIQ_BUYERS_FILE": str(settings.buyers_file)} if settings.buyers_file else {}),
    }


class WorkerProcess:
    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60, down: tuple[str, ...] = ()) -> None:
        """Start and wait until /readyz says ready, or fails only the checks in `down`
        (a test that starts the worker without Redis on purpose passes ``("redis",)``)."""
        env = {**os.environ, **settings_env(self.settings)}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # Ready, not just alive: recovered, and the streams sought their committed offsets.
        url = f"http://127.0.0.1:{self.settings.worker_web_port}/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                response = httpx.get(url, timeout=1)
                if response.status_code == 200 or (down and _only_down(response, down)):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"worker not ready in {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit — the crash case."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _only_down(response: httpx.Response, down: tuple[str, ...]) -> bool:
    try:
        checks = response.json()["checks"]
    except (ValueError, KeyError, TypeError):
        return False
    failing = {name for name, check in checks.items() if not check.get("ok")}
    return bool(failing) and failing <= set(down)


def produce(settings: Settings, events: list[GeneratedEvent], rate: float = 0) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5,
                         "acks": "all", "partitioner": KEY_PARTITIONER})
    failures: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    started = time.monotonic()
    for i, event in enumerate(events):
        producer.produce(settings.topic(raw_topic(event.source)), event.value,
                         key=event.key, headers=list(event.headers.items()),
                         on_delivery=delivered)
        producer.poll(0)
        if rate:
            ahead = started + (i + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    assert producer.flush(30) == 0
    assert not failures, failures[:3]


def scalar(settings: Settings, sql: str) -> int:
    return int(run_query(settings, sql).scalar())


def landed(settings: Settings) -> tuple[int, int]:
    return (scalar(settings, "SELECT count() FROM leads FINAL"),
            scalar(settings, "SELECT count() FROM dlq FINAL"))


def landed_by_worker(settings: Settings, events: list[GeneratedEvent],
                     log_path: Path) -> WorkerProcess:
    """A started worker that has landed `events` (all valid ones); the caller stops it."""
    worker = WorkerProcess(settings, log_path)
    worker.start()
    try:
        produce(settings, events)
        assert wait_until(lambda: landed(settings) == (len(events), 0), timeout=120), (
            landed(settings), worker.log_tail())
    except BaseException:
        worker.stop()
        raise
    return worker


def changelog(settings: Settings, table: str) -> dict[str, list[bytes | None]]:
    """Every key of a Faust table's changelog with its values in order (None: deleted),
    read from the beginning to the end each partition had when called."""
    topic = f"{settings.topic_prefix}{settings.app_id}-{table}-changelog"
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"changelog-{os.getpid()}-{time.monotonic_ns()}",
                         "enable.auto.commit": False})
    ends = {}
    for partition in range(settings.topic_partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        if high > 0:
            ends[partition] = high
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
    history: dict[str, list[bytes | None]] = {}
    deadline = time.monotonic() + 30
    try:
        while ends and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            history.setdefault(orjson.loads(message.key()), []).append(message.value())
            if message.offset() + 1 >= ends.get(message.partition(), 0):
                ends.pop(message.partition(), None)
    finally:
        consumer.close()
    return history
