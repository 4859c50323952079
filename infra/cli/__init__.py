"""The `aiqleads` command: the composition root, one module per command group.

Each group reads the settings once at its start (`common.settings`) and hands them on;
heavy imports (Faust, the API, chdb) happen inside the command that needs them.
"""

from __future__ import annotations

import logging

import click

from infra.cli import bench, dlq, keys, lag, models, run, stack, stripe, traffic, warehouse


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """AIQLeads Stream: real-time lead ingest, scoring and serving."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


for command in (stack.up, stack.down, stack.status, run.worker, run.api, run.run,
                traffic.produce, traffic.buyers, warehouse.sql, dlq.dlq, models.evaluate,
                models.model, lag.lag, keys.keys, bench.bench, stripe.stripe_event):
    main.add_command(command)
