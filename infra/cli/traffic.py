"""`aiqleads produce|buyers`: the demo drivers (synthetic traffic, simulated buyers)."""

from __future__ import annotations

import click

from infra.cli.common import settings
from schemas.contract import SOURCES


@click.command()
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
@click.option("--engagement/--no-engagement", default=True, show_default=True,
              help="Also send the people's page views, saves, mail and calls.")
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
    engagement: bool,
) -> None:
    """Send realistic synthetic lead traffic (and later outcomes) into Kafka."""
    from infra.demo.produce import produce as run_produce

    summary = run_produce(
        settings(),
        sources=SOURCES if source == "all" else (source,),
        rate=rate,
        count=count,
        seed=seed,
        malformed_share=malformed,
        outcome_delay=None if no_outcomes else outcome_delay,
        fraud_share=fraud,
        duplicate_share=duplicates,
        engagement=engagement,
    )
    click.echo(summary.render())


@click.command()
@click.option("--seed", default=1, show_default=True, help="Buyers' behaviour and hidden tastes.")
@click.option("--speedup", default=60.0, show_default=True,
              help="Simulated time runs this much faster (60: a 10-minute hold takes 10 s).")
@click.option("--from-start", is_flag=True, help="Also act on leads scored before the start.")
def buyers(seed: int, speedup: float, from_start: bool) -> None:
    """Simulated buyers view, hold and buy scored leads (into buyer.interactions)."""
    from infra.demo.buyers import run_buyers
    from infra.kafka.admin import KafkaUnavailable

    if speedup <= 0:
        raise click.BadParameter("must be positive", param_hint="--speedup")
    try:
        summary = run_buyers(settings(), seed=seed, speedup=speedup, from_start=from_start)
    except KafkaUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary.render())
