"""`aiqleads lag`: consumer lag of the system's groups, as `kafka-consumer-groups --describe`
prints it, plus lag in seconds and the Burrow-style status."""

from __future__ import annotations

import json
import time

import click

from infra.cli.common import settings


@click.command()
@click.option("--group", "group_prefix", default=None,
              help="Groups whose id starts with this (default: the app's groups, "
                   "AIQ_TOPIC_PREFIX + AIQ_APP_ID).")
@click.option("--samples", default=3, show_default=True,
              help="Polls before printing: seconds and status need a short history.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls.")
@click.option("--watch", is_flag=True, help="Keep polling and reprinting until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="The snapshot as JSON.")
def lag(group_prefix: str | None, samples: int, interval: float, watch: bool,
        as_json: bool) -> None:
    """Lag per group, topic and partition: offsets, seconds behind, status.

    The seconds come from the log end offsets sampled while this command runs, so a short
    run extrapolates; the API's /v1/ops/lag keeps a longer history.
    """
    from infra.ops.lag import KafkaOffsets, LagMonitor, render_table

    config = settings()
    monitor = LagMonitor(KafkaOffsets(config.kafka_bootstrap),
                         group_prefix or f"{config.topic_prefix}{config.app_id}",
                         window=config.ops_lag_window, publish=False)
    polls = 0
    while True:
        snapshot = monitor.poll()
        polls += 1
        if polls >= max(samples, 1):
            if as_json:
                click.echo(json.dumps(snapshot.to_json(), indent=2))
            else:
                click.echo(render_table(snapshot))
            if snapshot.error and not watch:
                raise click.exceptions.Exit(1)
            if not watch:
                return
            click.echo("")
        time.sleep(interval)
