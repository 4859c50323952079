"""`aiqleads worker|api|run`: the long-running processes, alone or all together."""

from __future__ import annotations

import click

from infra.cli.common import settings


@click.command()
def worker() -> None:
    """Run the Faust stream worker (ingest, land, learn agents)."""
    from agents.worker import run_worker

    run_worker(settings())


@click.command()
def api() -> None:
    """Run the HTTP API."""
    from api.server import run_api

    run_api(settings())


@click.command()
@click.option("--rate", default=200.0, show_default=True, help="Demo leads per second.")
@click.option("--no-traffic", is_flag=True, help="Start the system without demo traffic.")
def run(rate: float, no_traffic: bool) -> None:
    """Everything together: services, worker, API and demo traffic. Ctrl-C stops it all."""
    from infra.cli.supervise import run_all

    run_all(settings(), rate=rate, traffic=not no_traffic)
