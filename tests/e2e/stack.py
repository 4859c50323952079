"""A private stack for fault scenarios: Kafka, Redis and a ClickHouse server on free ports
with their own state dir, started and stopped through `infra.stack`, so breaking them on
purpose disturbs nobody using the shared services on the default ports.

Each scenario then gets its own `Run`: a topic prefix (and Redis key prefix), a ClickHouse
database and a worker web port on that stack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

from infra import stack
from infra.settings import Settings
from infra.stack import process
from infra.stack.clickhouse import ClickHouseService
from infra.stack.kafka import KafkaService, replication_for
from infra.stack.managed import ManagedService
from infra.stack.ports import free_port
from infra.stack.redis import RedisService
from infra.warehouse.query import run_query


def private_settings(state_dir: Path, brokers: int = 1) -> Settings:
    return Settings(
        kafka_bootstrap=",".join(f"127.0.0.1:{free_port(pair=True)}" for _ in range(brokers)),
        kafka_replication=replication_for(brokers)[0],
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        clickhouse_url=f"clickhouse://default:@127.0.0.1:{free_port(pair=True)}/aiqleads",
        state_dir=state_dir,
    )


@dataclass
class PrivateStack:
    settings: Settings

    def up(self) -> None:
        stack.up(self.settings)

    def down(self) -> None:
        stack.down(self.settings)

    def service(self, name: str) -> ManagedService:
        """`kafka` (node 1), `kafka-N` (node N of a cluster), `redis` or `clickhouse`."""
        if name.startswith("kafka"):
            return KafkaService(self.settings, int(name.partition("-")[2] or 1))
        kinds = {"redis": RedisService, "clickhouse": ClickHouseService}
        return kinds[name](self.settings)

    def stop(self, name: str, *, kill: bool = False) -> None:
        """Stop one service: SIGTERM and wait (its clean shutdown), or SIGKILL (a crash)."""
        service = self.service(name)
        pid = service.running_pid()
        assert pid is not None, f"{name} of the private stack is not running"
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            process.wait_until(lambda: not process.is_alive(pid), what=f"{name} to die",
                               timeout=30)
            service.pid_file.unlink(missing_ok=True)
        else:
            assert service.stop()

    def start(self, name: str) -> None:
        """Start one service again and wait until it answers."""
        service = self.service(name)
        service.wait_ready(service.start())

    def run(self, base: Path, **overrides: object) -> Settings:
        """Settings of one isolated run on this stack (topics, Redis keys, database, port)."""
        run_id = uuid.uuid4().hex[:10]
        url = self.settings.clickhouse_url.rsplit("/", 1)[0] + f"/e2e_{run_id}"

        return self.settings.model_copy(update={
            "clickhouse_url": url,
            "state_dir": base / f"run-{run_id}",
            "topic_prefix": f"e{run_id}.",
            "worker_web_port": free_port(),
            "land_batch_seconds": 0.3,
            **overrides,
        })

    def drop(self, run: Settings) -> None:
        database = run.clickhouse_url.rsplit("/", 1)[1]
        with contextlib.suppress(Exception):
            run_query(self.settings, f"DROP DATABASE IF EXISTS `{database}`")
