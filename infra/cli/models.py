"""`aiqleads evaluate` and `aiqleads model status|promote|rollback`: the online models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from infra.cli.common import settings as read_settings
from infra.settings import Settings


@click.command()
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled CSV with a header: numeric columns are the features.")
@click.option("--target", help="The CSV's label column (1/0, true/false, yes/no).")
@click.option("--delay", default=0, show_default=True,
              help="Labels arrive N leads late (River's delay=N).")
@click.option("--model", "model_spec", help="Champion spec (default: the configured one), "
              "e.g. 'StandardScaler|LogisticRegression(lr=0.05)'.")
@click.option("--challenger", "challenger_spec", default="", help="A challenger spec to run "
              "side by side (both learn every label).")
@click.option("--share", default=None, type=float,
              help="Challenger's share of leads served (default: the configured one).")
@click.option("--count", default=20_000, show_default=True, help="Generated leads (no --csv).")
@click.option("--seed", default=1, show_default=True, help="Generator and model seed.")
@click.option("--start", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
              help="Generated leads' clock start, e.g. 2026-05-04 (UTC; default: now less the "
                   "span). Fixing it makes a run repeatable: hours of day follow the clock.")
@click.option("--every", default=1_000, show_default=True, help="Report every N labels.")
@click.option("--metric", "metric_names", multiple=True, help="A River metric by class name "
              "(repeatable), e.g. F1, MCC; default ROCAUC, LogLoss, Accuracy.")
@click.option("--last", default=5_000, show_default=True, type=click.IntRange(min=1),
              help="The final table's exact AUC over the last N labels (and the baseline's); "
                   "a smaller set uses its last fifth.")
@click.option("--baseline", is_flag=True, help="Also train HistGradientBoostingClassifier on "
              "the same snapshots, all but the last N labels, and test it on those.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the reliability diagram and AUC/log loss over labels (PNG).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the final figures as JSON (full precision).")
def evaluate(
    csv_path: Path | None,
    target: str | None,
    delay: int,
    model_spec: str | None,
    challenger_spec: str,
    share: float | None,
    count: int,
    seed: int,
    start: datetime | None,
    every: int,
    metric_names: tuple[str, ...],
    last: int,
    baseline: bool,
    plot_path: Path | None,
    json_path: Path | None,
) -> None:
    """Replay labelled leads through the scoring path; print progressive metrics.

    Cumulative figures are computed as River's evaluate.progressive_val_score computes them
    (every arm predicts each lead on arrival); rolling ones are the worker's own window.
    Without --csv: COUNT generated leads through the real ingest path, labelled by the
    generator's hidden truth, whose oracle AUC is shown alongside.
    """
    from streams.scoring.arms import Scorer
    from streams.scoring.evaluate import Replay, render, replay, scored_csv
    from streams.scoring.progressive import DEFAULT_METRICS, river_metric
    from streams.traffic.labelled import scored_traffic

    if csv_path is not None and not target:
        raise click.UsageError("--csv needs --target COLUMN")
    settings = read_settings()
    names = metric_names or DEFAULT_METRICS
    for name in names:
        try:
            river_metric(name)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--metric") from exc
    try:
        scorer = Scorer.from_specs(
            model_spec or settings.model_spec, challenger_spec or None, seed=seed,
            challenger_share=settings.challenger_share if share is None else share,
            reason_codes=settings.reason_codes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--model/--challenger") from exc
    rows = (scored_csv(scorer, csv_path, target or "") if csv_path is not None
            else scored_traffic(scorer, count, seed=seed, start=_utc(start)))
    record = Replay(list(scorer.arms))
    try:
        for i, progress in enumerate(replay(scorer, rows, delay=delay, every=every,
                                            metrics=names, record=record)):
            click.echo(render(progress, header=i == 0))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    report = _final_report(scorer, record, last, baseline, seed)
    click.echo(_render_final(report))
    for name, arm in scorer.arms.items():
        top = ", ".join(f"{f} {v:.3f}" for f, v in list(arm.importance.get().items())[:8])
        if top:
            click.echo(f"{name} importance (mean |w·z|): {top}")
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2))
    if plot_path is not None:
        from infra.cli.plots import evaluation_plot

        source = csv_path.name if csv_path is not None else f"{count:,} generated leads"
        evaluation_plot(plot_path, record, f"{source}, labels {delay} leads late")
        click.echo(f"plot: {plot_path}")


def _utc(when: datetime | None) -> datetime | None:
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def _final_report(scorer: Any, record: Any, last: int, baseline: bool, seed: int
                  ) -> dict[str, Any]:
    from streams.scoring.baseline import hindsight_auc

    final = record.curve[-1]
    n = min(last, len(record.labels))
    if n >= len(record.labels):  # a set no bigger than the window: its last fifth
        n = max(1, len(record.labels) // 5)
    report: dict[str, Any] = {
        "labels": final.labels,
        "rolling_window": final.window,
        "arms": {
            name: {"spec": arm.model.spec, "cumulative": (final.cumulative or {})[name],
                   "rolling": final.arms[name], "calibrator": arm.calibrator.status()}
            for name, arm in scorer.arms.items()
        },
        "last": {"labels": n, "auc": record.last_auc(n)},
        "rolling_served_auc": final.served_auc,
        "rolling_oracle_auc": final.oracle_auc,
    }
    if baseline:
        try:
            fitted = hindsight_auc(record.features, record.labels, test=n, seed=seed)
        except ValueError as exc:
            raise click.ClickException(f"baseline: {exc}") from exc
        report["baseline"] = fitted._asdict()
    return report


def _render_final(report: dict[str, Any]) -> str:
    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    n = report["last"]["labels"]
    lines = [f"\nfinal, {report['labels']:,} labels: cumulative = River's progressive "
             f"validation over every label; rolling = the last {report['rolling_window']:,}; "
             f"last {n:,} = exact AUC over the last {n:,} labels (arrival scores)",
             f"{'':<12} {'cum auc':>8} {'cum ll':>8} {'cum acc':>8} {'ece raw':>8} "
             f"{'ece cal':>8} {'ll cal':>8} {'roll auc':>8} {'roll ll':>8} {'r ece raw':>9} "
             f"{'r ece cal':>9} "
             f"{f'last {n}':>10}  spec"]
    for name, arm in report["arms"].items():
        cum, roll = arm["cumulative"], arm["rolling"]
        lines.append(
            f"{name:<12} {num(cum.get('ROCAUC')):>8} {num(cum.get('LogLoss')):>8} "
            f"{num(cum.get('Accuracy')):>8} {num(cum['ece_raw']):>8} {num(cum['ece']):>8} "
            f"{num(cum['log_loss_cal']):>8} {num(roll.get('roc_auc')):>8} "
            f"{num(roll.get('log_loss')):>8} {num(roll.get('raw_calibration_error')):>9} "
            f"{num(roll.get('calibration_error')):>9} "
            f"{num(report['last']['auc'].get(name)):>10}  {arm['spec']}")
        extra = {k: v for k, v in cum.items() if k not in (
            "ROCAUC", "LogLoss", "Accuracy", "ece_raw", "ece", "log_loss_cal")}
        if extra:
            lines.append(f"{'':<12} " + ", ".join(f"{k} {num(v)}" for k, v in extra.items()))
    last = report["last"]["auc"]
    lines.append(f"{'served':<12} {'':>82} {num(last.get('served')):>10}  (rolling "
                 f"{num(report['rolling_served_auc'])})")
    if last.get("oracle") is not None:
        lines.append(f"{'oracle':<12} {'':>82} {num(last.get('oracle')):>10}  (rolling "
                     f"{num(report['rolling_oracle_auc'])})")
    if "baseline" in report:
        b = report["baseline"]
        lines.append(f"{'baseline':<12} {'':>82} {num(b['auc']):>10}  {b['model']} offline, "
                     f"trained on the first {b['trained_on']:,} labels")
    return "\n".join(lines)


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

    def delay(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}s"

    share = doc.get("challenger_share", 0.0)
    lines = [f"{'arm':<11} {'version':<24} {'spec':<40} {'served':>7}"]
    for name, arm in doc["arms"].items():
        served = share if name == "challenger" else 1.0 - share
        lines.append(f"{name:<11} {arm['version']:<24} {arm['spec'][:40]:<40} {served:>7.1%}")
    kinds = doc.get("metric_kinds", {})
    lines.append("")
    lines.append(f"{'arm':<11} {'span':<9} {'labels':>9} {'roc_auc':>8} {'log_loss':>8} "
                 f"{'ece':>8} {'ece raw':>8} {'delay':>8}")
    for name, arm in doc["arms"].items():
        spans = {"lifetime": (arm["labels"], arm.get("lifetime", {})),
                 "rolling": (min(arm["labels"], 10_000), arm["metrics"]),
                 "last hour": (arm.get("hour", {}).get("labels", 0), arm.get("hour", {}))}
        for span, (labels, figures) in spans.items():
            lines.append(
                f"{name:<11} {span:<9} {labels:>9,} {num(figures.get('roc_auc')):>8} "
                f"{num(figures.get('log_loss')):>8} {num(figures.get('calibration_error')):>8} "
                f"{num(figures.get('raw_calibration_error')):>8} "
                f"{delay(figures.get('label_delay_s')):>8}")
    for key, label in (("lifetime", "lifetime"), ("metrics", "rolling"), ("hour", "last hour")):
        if key in kinds:
            lines.append(f"  {label}: {kinds[key]}")
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
