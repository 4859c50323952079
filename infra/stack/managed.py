"""The life cycle every local service shares; kafka.py, redis.py and clickhouse.py fill it in.

start: reuse our running process (pid file), else use whatever already answers on the port (not
ours, so `down` leaves it alone), else launch our own. Then wait until it answers. Launching all
services before waiting on any lets them boot side by side.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from pathlib import Path

from infra.settings import Settings
from infra.stack import ports, process
from infra.stack.service import ServiceStartError, ServiceStatus, StackPaths

logger = logging.getLogger(__name__)


class ManagedService(ABC):
    name: str
    start_timeout: float = 60.0
    stop_timeout: float = 15.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = StackPaths.of(settings)

    # What each service defines.

    @property
    @abstractmethod
    def host(self) -> str:
        """The host clients are configured with."""

    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    @abstractmethod
    def marker(self) -> str:
        """A string our process's command line contains (tells it from a recycled pid)."""

    @abstractmethod
    def check_prerequisites(self) -> None:
        """Raise MissingPrerequisiteError naming what to install."""

    @abstractmethod
    def answers(self) -> bool:
        """True when the service answers a real request (not just an open port)."""

    @abstractmethod
    def launch(self) -> int:
        """Prepare config and data, spawn the service detached, return its pid."""

    def after_ready(self) -> None:  # noqa: B027 - optional hook, most services need nothing
        """Runs once the service answers, whoever started it (e.g. create the database)."""

    # The shared life cycle.

    @property
    def pid_file(self) -> Path:
        return self.paths.pid_file(self.name)

    @property
    def log_file(self) -> Path:
        return self.paths.log_file(self.name)

    @property
    def startup_log(self) -> Path:
        """The log whose tail explains a failed start."""
        return self.log_file

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def running_pid(self) -> int | None:
        return process.running_pid(self.pid_file, self.marker)

    def start(self) -> int | None:
        """Make sure the service is starting or running; our pid, or None if it is not ours."""
        pid = self.running_pid()
        if pid is not None:
            logger.info("%s already running (pid %d)", self.name, pid)
            return pid
        if self.answers():
            logger.info("%s: using the one on %s, not ours", self.name, self.address)
            return None
        if not ports.is_loopback(self.host):
            raise ServiceStartError(
                f"{self.name}: nothing answers on {self.address}, and `aiqleads up` only starts "
                "services on this machine"
            )
        if ports.port_open(self.host, self.port):
            raise ServiceStartError(
                f"{self.name}: port {self.port} is in use by something that does not answer as "
                f"{self.name}; stop it or point the AIQ_ settings elsewhere"
            )
        pid = self.launch()
        logger.info("%s starting (pid %d, log %s)", self.name, pid, self.log_file)
        return pid

    def wait_ready(self, pid: int | None) -> None:
        began = time.monotonic()
        process.wait_until(
            self.answers,
            what=f"{self.name} on {self.address}",
            timeout=self.start_timeout,
            pid=pid,
            log_file=self.startup_log if pid is not None else None,
        )
        self.after_ready()
        logger.info("%s ready on %s (%.1fs)", self.name, self.address, time.monotonic() - began)

    def stop(self) -> bool:
        return process.stop(self.pid_file, self.marker, what=self.name, timeout=self.stop_timeout)

    def status(self) -> ServiceStatus:
        pid = self.running_pid()
        answers = self.answers()
        if pid is not None and answers:
            return ServiceStatus(self.name, True, f"{self.address}, pid {pid}")
        if pid is not None:
            return ServiceStatus(
                self.name, False, f"pid {pid} not answering on {self.address}; see {self.log_file}"
            )
        if answers:
            return ServiceStatus(self.name, True, f"{self.address}, not started by aiqleads")
        return ServiceStatus(self.name, False, f"not running ({self.address})")
