"""The `aiqleads` command: one entry point that reads settings once and hands them on."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from infra.settings import Settings
from schemas.contract import SOURCES


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
    from infra.cli.run import run_all

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
        _settings(),
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


@main.command()
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
        summary = run_buyers(_settings(), seed=seed, speedup=speedup, from_start=from_start)
    except KafkaUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
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
    from infra.ops.dlq import counts
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
    from infra.ops.dlq import list_letters
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
    from infra.ops.dlq import replay
    from infra.warehouse.errors import WarehouseError

    try:
        summary = replay(_settings(), reason=reason, source=source, limit=limit,
                         dry_run=dry_run)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary.render())
    if not summary.ok:
        sys.exit(1)


@main.command()
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled CSV with a header: numeric columns are the features.")
@click.option("--target", help="The CSV's label column (1/0, true/false, yes/no).")
@click.option("--delay", default=0, show_default=True, help="Labels arrive N leads late.")
@click.option("--model", "model_spec", help="Champion spec (default: the configured one), "
              "e.g. 'StandardScaler|LogisticRegression(lr=0.05)'.")
@click.option("--challenger", "challenger_spec", default="", help="A challenger spec to run "
              "side by side (both learn every label).")
@click.option("--share", default=None, type=float,
              help="Challenger's share of leads served (default: the configured one).")
@click.option("--count", default=20_000, show_default=True, help="Generated leads (no --csv).")
@click.option("--seed", default=1, show_default=True, help="Generator and model seed.")
@click.option("--every", default=1_000, show_default=True, help="Report every N labels.")
def evaluate(
    csv_path: Path | None,
    target: str | None,
    delay: int,
    model_spec: str | None,
    challenger_spec: str,
    share: float | None,
    count: int,
    seed: int,
    every: int,
) -> None:
    """Replay labelled leads through the scoring path; print progressive metrics.

    Without --csv: COUNT generated leads through the real ingest path, labelled by the
    generator's hidden truth, whose oracle AUC is shown alongside.
    """
    from streams.scoring.arms import Scorer
    from streams.scoring.evaluate import render, replay, scored_csv
    from streams.traffic.labelled import scored_traffic

    if csv_path is not None and not target:
        raise click.UsageError("--csv needs --target COLUMN")
    settings = _settings()
    try:
        scorer = Scorer.from_specs(
            model_spec or settings.model_spec, challenger_spec or None, seed=seed,
            challenger_share=settings.challenger_share if share is None else share,
            reason_codes=settings.reason_codes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--model/--challenger") from exc
    rows = (scored_csv(scorer, csv_path, target or "") if csv_path is not None
            else scored_traffic(scorer, count, seed=seed))
    try:
        for i, progress in enumerate(replay(scorer, rows, delay=delay, every=every)):
            click.echo(render(progress, header=i == 0))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, arm in scorer.arms.items():
        top = ", ".join(f"{f} {v:.3f}" for f, v in list(arm.importance.get().items())[:8])
        if top:
            click.echo(f"{name} importance (mean |w·z|): {top}")


@main.group()
def model() -> None:
    """The worker's champion/challenger models (its checkpoint when no worker runs)."""


@model.command("status")
@click.option("--json", "as_json", is_flag=True, help="The raw status document.")
def model_status(as_json: bool) -> None:
    """Arms, versions, labels, online metrics, feature importances, history."""
    doc = _models(_settings(), None)
    click.echo(json.dumps(doc, indent=2) if as_json else _render_models(doc))


@model.command("promote")
def model_promote() -> None:
    """Make the challenger the champion (the old champion stays on as challenger)."""
    click.echo(_render_models(_models(_settings(), "promote")))


@model.command("rollback")
def model_rollback() -> None:
    """Undo the last promotion: the previous champion serves again."""
    click.echo(_render_models(_models(_settings(), "rollback")))


def _models(settings: Settings, action: str | None) -> dict[str, Any]:
    """Ask the running worker; when none listens, work on its checkpoint."""
    import httpx

    url = f"http://{settings.worker_web_host}:{settings.worker_web_port}/models"
    try:
        response = (httpx.post(f"{url}/{action}", timeout=30) if action
                    else httpx.get(url, timeout=30))
    except httpx.ConnectError:
        response = None
    except httpx.HTTPError as exc:
        raise click.ClickException(f"worker at {url}: {exc}") from exc
    if response is not None:
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise click.ClickException(f"{url} answered HTTP {response.status_code} without a "
                                       "model status; is it an aiqleads worker?")
        if "error" in doc:
            raise click.ClickException(doc["error"])
        return doc
    from agents.models import change_offline, offline_status
    from streams.scoring.arms import ScorerError

    click.echo(f"(no worker at {url}: using the checkpoint in {settings.state_dir})", err=True)
    try:
        doc = change_offline(settings, action) if action else offline_status(settings)
    except ScorerError as exc:
        raise click.ClickException(str(exc)) from exc
    if doc is None:
        raise click.ClickException("no worker running and no scorer checkpoint yet")
    return doc


def _render_models(doc: dict[str, Any]) -> str:
    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    lines = [f"{'arm':<11} {'version':<24} {'spec':<40} {'labels':>8} {'roc_auc':>8} "
             f"{'log_loss':>8} {'ece':>8} {'served':>7}"]
    share = doc.get("challenger_share", 0.0)
    for name, arm in doc["arms"].items():
        metrics = arm["metrics"]
        served = share if name == "challenger" else 1.0 - share
        lines.append(f"{name:<11} {arm['version']:<24} {arm['spec'][:40]:<40} {arm['labels']:>8} "
                     f"{num(metrics.get('roc_auc')):>8} {num(metrics.get('log_loss')):>8} "
                     f"{num(metrics.get('calibration_error')):>8} {served:>7.1%}")
    checkpoint = doc.get("checkpoint") or {}
    lines.append(f"labels since last change: {doc['labels_since_change']}; can roll back: "
                 f"{'yes' if doc['can_roll_back'] else 'no'}; checkpoint: "
                 f"{checkpoint.get('current') or '-'}")
    for name, arm in doc["arms"].items():
        top = ", ".join(f"{f} {v:.3f}" for f, v in arm["importance"].items())
        lines.append(f"{name} importance: {top or '-'}")
    for event in doc.get("history", [])[-5:]:
        lines.append(f"{event['action']} ({event['trigger']}) after {event['after_labels']} "
                     f"labels: champion {event['champion']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
