"""`aiqleads dlq counts|list|replay`: the dead letters in the warehouse."""

from __future__ import annotations

import sys

import click

from infra.cli.common import FORMAT, settings


@click.group()
def dlq() -> None:
    """Inspect and replay dead letters (the warehouse `dlq` table, newest version per origin)."""


_REASON = click.option("--reason", help="Only this reason code (e.g. too_old).")
_SOURCE = click.option("--source", help="Only this source (e.g. portal).")


@dlq.command("counts")
@_REASON
@_SOURCE
@FORMAT
def dlq_counts(reason: str | None, source: str | None, fmt: str) -> None:
    """Dead letters by reason and source: open, resolved, total."""
    from infra.ops.dlq import counts
    from infra.warehouse.errors import WarehouseError

    try:
        click.echo(counts(settings(), reason=reason, source=source).render(fmt))
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc


@dlq.command("list")
@_REASON
@_SOURCE
@click.option("--status", type=click.Choice(["open", "resolved", "all"]), default="open",
              show_default=True)
@click.option("--limit", default=50, show_default=True, help="Newest N records.")
@FORMAT
def dlq_list(
    reason: str | None, source: str | None, status: str, limit: int, fmt: str
) -> None:
    """The newest dead letters: origin topic[partition]@offset, reason, detail, age, raw preview."""
    from infra.ops.dlq import list_letters
    from infra.warehouse.errors import WarehouseError

    try:
        result = list_letters(settings(), reason=reason, source=source,
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
    from infra.ops.dlq import replay
    from infra.warehouse.errors import WarehouseError

    try:
        summary = replay(settings(), reason=reason, source=source, limit=limit,
                         dry_run=dry_run)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary.render())
    if not summary.ok:
        sys.exit(1)
