"""`aiqleads up|down|status`: the local services."""

from __future__ import annotations

import sys

import click

from infra.cli.common import settings


@click.command()
def up() -> None:
    """Start the local services (Kafka, Redis, ClickHouse server if configured)."""
    from infra.stack import StackError
    from infra.stack import up as stack_up

    try:
        stack_up(settings())
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc


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
