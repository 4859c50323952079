"""Redis from Debian's `redis-server`, in the foreground of its own session.

Rankings and feeds are derived state the agents rebuild, but API keys, holds, orders and
idempotency records are not: Redis keeps an append-only file fsynced on every write
(`appendfsync always`) and no RDB snapshots.
"""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from infra.stack import ports, process
from infra.stack.managed import ManagedService
from infra.stack.service import MissingPrerequisiteError


class RedisService(ManagedService):
    name = "redis"
    start_timeout = 20.0
    stop_timeout = 10.0

    @property
    def marker(self) -> str:
        # Redis rewrites its command line to "redis-server host:port": only the name survives.
        return "redis-server"

    @property
    def host(self) -> str:
        return urlsplit(self.settings.redis_url).hostname or "localhost"

    @property
    def port(self) -> int:
        return urlsplit(self.settings.redis_url).port or 6379

    @property
    def password(self) -> str | None:
        return urlsplit(self.settings.redis_url).password

    def check_prerequisites(self) -> None:
        if ports.is_loopback(self.host) and shutil.which("redis-server") is None:
            raise MissingPrerequisiteError(
                "redis-server not found: `apt-get install redis-server`, or run `make deps`"
            )

    def answers(self) -> bool:
        if not ports.port_open(self.host, self.port):
            return False
        client = redis.Redis(
            host=self.host,
            port=self.port,
            password=self.password,
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0),  # a probe: the default retries stretch 2s into 15s
        )
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def launch(self) -> int:
        binary = shutil.which("redis-server")
        if binary is None:
            raise MissingPrerequisiteError("redis-server not found on PATH")
        data_dir = self.paths.service_dir("redis")
        data_dir.mkdir(parents=True, exist_ok=True)
        # "-::1" binds IPv6 loopback when the machine has it, without failing when it has not.
        bind = ["127.0.0.1", "-::1"] if self.host == "localhost" else [ports.bind_host(self.host)]
        argv = [
            binary,
            "--port", str(self.port),
            "--bind", *bind,
            "--dir", str(data_dir),
            "--daemonize", "no",
            "--logfile", "",
            "--save", "",
            # Keys, holds and sales live here: every write is in the append-only file before
            # Redis answers it (`always`), so a restart forgets nothing it acknowledged.
            "--appendonly", "yes",
            "--appendfsync", "always",
            # Rewrite the file when it has grown to 5x its last rewrite, not Redis's 2x: the
            # serving keys are a small set rewritten often, and at 2x a busy minute forked a
            # rewrite every 10-20 s, each a core-second of the child's writes that the
            # parent's per-write fsyncs waited behind (+~300 ms on a window's p99 → Redis).
            # The price: the file on disk up to 5x the data, and a restart replays that.
            "--auto-aof-rewrite-percentage", "400",
        ]  # fmt: skip
        if self.password:
            argv += ["--requirepass", self.password]
        return process.spawn(argv, log_file=self.log_file, pid_file=self.pid_file, cwd=data_dir)
