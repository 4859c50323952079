"""`aiqleads up|down|status`: the local services."""

from __future__ import annotations

import sys

import click

from infra.cli.common import settings


@click.command()
@click.option("--brokers", type=click.IntRange(1, 9), default=None,
              help="Run a KRaft cluster of this many nodes (3: replication 3, "
                   "min.insync.replicas 2) on ports 2 apart from AIQ_KAFKA_BOOTSTRAP's.")
def up(brokers: int | None) -> None:
    """Start the local services (Kafka, Redis, ClickHouse server if configured)."""
    from infra.stack import StackError
    from infra.stack import up as stack_up
    from infra.stack.kafka import cluster_bootstrap, replication_for

    configured = settings()
    if brokers is not None and brokers > 1:
        configured = configured.model_copy(update={
            "kafka_bootstrap": cluster_bootstrap(configured.kafka_bootstrap, brokers),
            "kafka_replication": replication_for(brokers)[0],
        })
    try:
        stack_up(configured)
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc
    if brokers is not None and brokers > 1:
        # Everything else (worker, API, producers, `down`) must see the whole cluster.
        click.echo(f"export AIQ_KAFKA_BOOTSTRAP={configured.kafka_bootstrap} "
                   f"AIQ_KAFKA_REPLICATION={configured.kafka_replication}")


@click.command()
def down() -> None:
    """Stop the local services that `up` started."""
    from infra.stack import StackError
    from infra.stack import down as stack_down

    try:
        stack_down(settings())
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
def status() -> None:
    """Show which local services are running."""
    from infra.stack import status as stack_status

    ok = True
    for service in stack_status(settings()):
        click.echo(f"{service.name:<12} {'up' if service.running else 'down':<5} {service.detail}")
        ok = ok and service.running
    sys.exit(0 if ok else 1)
