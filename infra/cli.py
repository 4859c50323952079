"""The `aiqleads` command: one entry point that reads settings once and hands them on."""

from __future__ import annotations

import logging
import sys

import click

from infra.settings import SOURCES, Settings


def _settings() -> Settings:
    return Settings()


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """AIQLeads Stream: real-time lead ingest, scoring and serving."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command()
def up() -> None:
    """Start the local services (Kafka, Redis, ClickHouse server if configured)."""
    from infra.stack import StackError
    from infra.stack import up as stack_up

    try:
        stack_up(_settings())
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
def down() -> None:
    """Stop the local services that `up` started."""
    from infra.stack import StackError
    from infra.stack import down as stack_down

    try:
        stack_down(_settings())
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
def status() -> None:
    """Show which local services are running."""
    from infra.stack import status as stack_status

    ok = True
    for service in stack_status(_settings()):
        click.echo(f"{service.name:<12} {'up' if service.running else 'down':<5} {service.detail}")
        ok = ok and service.running
    sys.exit(0 if ok else 1)


@main.command()
def worker() -> None:
    """Run the Faust stream worker (ingest, land, learn agents)."""
    from agents.worker import run_worker

    run_worker(_settings())


@main.command()
def api() -> None:
    """Run the HTTP API."""
    from api.server import run_api

    run_api(_settings())


@main.command()
@click.option("--rate", default=200.0, show_default=True, help="Demo leads per second.")
@click.option("--no-traffic", is_flag=True, help="Start the system without demo traffic.")
def run(rate: float, no_traffic: bool) -> None:
    """Everything together: services, worker, API and demo traffic. Ctrl-C stops it all."""
    from infra.run_all import run_all

    run_all(_settings(), rate=rate, traffic=not no_traffic)


@main.command()
@click.option("--source", type=click.Choice([*SOURCES, "all"]), default="all", show_default=True)
@click.option("--rate", default=1000.0, show_default=True, help="Events per second (0 = flat out).")
@click.option("--count", default=10_000, show_default=True, help="Lead events to send.")
@click.option("--seed", default=1, show_default=True)
@click.option("--malformed", default=0.03, show_default=True, help="Share of malformed events.")
@click.option(
    "--outcome-delay",
    default=5.0,
    show_default=True,
    help="Mean seconds until a lead's outcome is sent (exponential).",
)
@click.option("--no-outcomes", is_flag=True, help="Do not send outcomes.")
@click.option("--fraud", default=0.0, show_default=True, help="Share of labelled fraud.")
@click.option("--duplicates", default=0.0, show_default=True, help="Share of duplicate leads.")
def produce(
    source: str,
    rate: float,
    count: int,
    seed: int,
    malformed: float,
    outcome_delay: float,
    no_outcomes: bool,
    fraud: float,
    duplicates: float,
) -> None:
    """Send realistic synthetic lead traffic (and later outcomes) into Kafka."""
    from infra.produce import produce as run_produce

    summary = run_produce(
        _settings(),
        sources=SOURCES if source == "all" else (source,),
        rate=rate,
        count=count,
        seed=seed,
        malformed_share=malformed,
        outcome_delay=None if no_outcomes else outcome_delay,
        fraud_share=fraud,
        duplicate_share=duplicates,
    )
    click.echo(summary.render())


@main.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "tsv", "json"]), default="table")
def sql(query: str, fmt: str) -> None:
    """Run QUERY against the warehouse (embedded chdb or a ClickHouse server)."""
    from infra.warehouse.errors import WarehouseError
    from infra.warehouse.query import run_query

    try:
        result = run_query(_settings(), query)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.render(fmt))



@main.group()
def dlq() -> None:
    """Inspect and replay dead letters (the warehouse `dlq` table, newest version per origin)."""


_FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["table", "tsv", "json"]), default="table"
)
_REASON = click.option("--reason", help="Only this reason code (e.g. too_old).")
_SOURCE = click.option("--source", help="Only this source (e.g. portal).")


@dlq.command("counts")
@_REASON
@_SOURCE
@_FORMAT
def dlq_counts(reason: str | None, source: str | None, fmt: str) -> None:
    """Dead letters by reason and source: open, resolved, total."""
    from infra.dlq import counts
    from infra.warehouse.errors import WarehouseError

    try:
        click.echo(counts(_settings(), reason=reason, source=source).render(fmt))
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc


@dlq.command("list")
@_REASON
@_SOURCE
@click.option("--status", type=click.Choice(["open", "resolved", "all"]), default="open",
              show_default=True)
@click.option("--limit", default=50, show_default=True, help="Newest N records.")
@_FORMAT
def dlq_list(
    reason: str | None, source: str | None, status: str, limit: int, fmt: str
) -> None:
    """The newest dead letters: origin topic[partition]@offset, reason, detail, age, raw preview."""
    from infra.dlq import list_letters
    from infra.warehouse.errors import WarehouseError

    try:
        result = list_letters(_settings(), reason=reason, source=source,
                              status=None if status == "all" else status, limit=limit)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.render(fmt))


@dlq.command("replay")
@_REASON
@_SOURCE
@click.option("--limit", default=10_000, show_default=True, help="At most N records.")
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; send nothing.")
def dlq_replay(reason: str | None, source: str | None, limit: int, dry_run: bool) -> None:
    """Re-send OPEN dead letters to their original topic after a fix (never duplicates)."""
    from infra.dlq import replay
    from infra.warehouse.errors import WarehouseError

    try:
        summary = replay(_settings(), reason=reason, source=source, limit=limit,
                         dry_run=dry_run)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary.render())
    if not summary.ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
