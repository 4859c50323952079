"""What every local service shares: its status record, its errors and its file layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.settings import Settings
from streams.errors import AIQLeadsError


class StackError(AIQLeadsError):
    """Root of the local stack's errors; the message is meant for the operator."""


class MissingPrerequisiteError(StackError):
    """A binary the stack needs (java, mvn, redis-server, clickhouse-server) is not installed."""


class ServiceStartError(StackError):
    """A service did not come up in time, exited, or its port is taken by something else."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    detail: str


@dataclass(frozen=True)
class StackPaths:
    """Where the stack keeps pid files, logs and per-service data under the state dir."""

    state_dir: Path

    @classmethod
    def of(cls, settings: Settings) -> StackPaths:
        return cls(settings.state_dir.resolve())

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def service_dir(self, service: str) -> Path:
        return self.state_dir / service
