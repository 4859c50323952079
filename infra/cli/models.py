"""`aiqleads evaluate` and `aiqleads model status|promote|rollback`: the online models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from infra.cli.common import settings as read_settings
from infra.settings import Settings


@click.command()
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
    settings = read_settings()
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


@click.group()
def model() -> None:
    """The worker's champion/challenger models (its checkpoint when no worker runs)."""


@model.command("status")
@click.option("--json", "as_json", is_flag=True, help="The raw status document.")
def model_status(as_json: bool) -> None:
    """Arms, versions, labels, online metrics, feature importances, history."""
    doc = _models(read_settings(), None)
    click.echo(json.dumps(doc, indent=2) if as_json else _render_models(doc))


@model.command("promote")
def model_promote() -> None:
    """Make the challenger the champion (the old champion stays on as challenger)."""
    click.echo(_render_models(_models(read_settings(), "promote")))


@model.command("rollback")
def model_rollback() -> None:
    """Undo the last promotion: the previous champion serves again."""
    click.echo(_render_models(_models(read_settings(), "rollback")))


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
