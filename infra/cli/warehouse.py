"""`aiqleads sql`: one query against the warehouse, either backend."""

from __future__ import annotations

import click

from infra.cli.common import FORMAT, settings


@click.command()
@click.argument("query")
@FORMAT
def sql(query: str, fmt: str) -> None:
    """Run QUERY against the warehouse (embedded chdb or a ClickHouse server)."""
    from infra.warehouse.errors import WarehouseError
    from infra.warehouse.query import run_query

    try:
        result = run_query(settings(), query)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.render(fmt))
