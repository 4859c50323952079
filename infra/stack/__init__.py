"""The local services runner behind `aiqleads up`, `down` and `status`.

`up(settings)` brings up Kafka (single-node KRaft), Redis, stripe-mock and, when
`AIQ_CLICKHOUSE_URL` is a `clickhouse://` URL, a ClickHouse server, and returns once each
answers a real request.
A service that already answers on its port is used as it is; otherwise `up` starts one,
detached in its own session, recording it in `<state_dir>/run/<name>.pid` with its output in
`<state_dir>/logs/<name>.log`. Calling `up` again is harmless.
`down(settings)` stops only what `up` started (SIGTERM, then SIGKILL after a timeout); data stays
in the state dir. Failures raise `StackError` subclasses whose message says what to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

from infra.settings import Settings
from infra.stack import process
from infra.stack.clickhouse import ClickHouseService, EmbeddedClickHouse, uses_server
from infra.stack.kafka import KafkaService
from infra.stack.managed import ManagedService
from infra.stack.redis import RedisService
from infra.stack.service import (
    MissingPrerequisiteError,
    ServiceStartError,
    ServiceStatus,
    StackError,
    StackPaths,
)
from infra.stack.stripe_mock import StripeMockService

__all__ = [
    "MissingPrerequisiteError",
    "ServiceStartError",
    "ServiceStatus",
    "StackError",
    "down",
    "status",
    "up",
]

logger = logging.getLogger(__name__)


def services(settings: Settings) -> list[ManagedService]:
    """The services these settings need, in start order (slowest to boot last)."""
    needed: list[ManagedService] = [RedisService(settings), StripeMockService(settings)]
    if uses_server(settings):
        needed.append(ClickHouseService(settings))
    needed.extend(KafkaService.cluster(settings))
    return needed


def up(settings: Settings) -> None:
    """Start whatever is not running yet and wait until every service answers."""
    needed = services(settings)
    for service in needed:  # all checks first, so a missing binary starts nothing
        service.check_prerequisites()
    with process.exclusive(_lock_file(settings)):
        launched = [(service, service.start()) for service in needed]
        for service, pid in launched:
            service.wait_ready(pid)


def down(settings: Settings) -> None:
    """Stop the services `up` started under this state dir, whatever the URLs say now."""
    with process.exclusive(_lock_file(settings)):
        for service in (
            *KafkaService.cluster(settings),
            ClickHouseService(settings),
            RedisService(settings),
            StripeMockService(settings),
        ):
            if service.stop():
                logger.info("%s stopped", service.name)
            else:
                logger.info("%s: nothing started by aiqleads to stop", service.name)


def status(settings: Settings) -> list[ServiceStatus]:
    """One line per service: Kafka, Redis and the warehouse (server or embedded)."""
    found = [*(node.status() for node in KafkaService.cluster(settings)),
             RedisService(settings).status(), StripeMockService(settings).status()]
    if uses_server(settings):
        found.append(ClickHouseService(settings).status())
    else:
        server_pid = ClickHouseService(settings).running_pid()
        if server_pid is not None:
            found.append(
                ServiceStatus(
                    "clickhouse",
                    True,
                    f"server pid {server_pid} still running, though AIQ_CLICKHOUSE_URL is chdb",
                )
            )
        else:
            found.append(EmbeddedClickHouse(settings).status())
    return found


def _lock_file(settings: Settings) -> Path:
    return StackPaths.of(settings).run_dir / "stack.lock"
