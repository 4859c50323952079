"""Replay a labelled stream through the scoring path and report progressive metrics.

The calls are the worker's own: `Scorer.score_one` when a lead arrives (for generated
traffic inside `ingest_one`, so the features are the production features) and
`Scorer.learn_one` when its label arrives, `delay` leads later (0 = at once; labels
still pending when the stream ends are revealed then, as River's `simulate_qa` does).
With delay 0 the arms' metrics are exactly River's `evaluate.progressive_val_score`
on the same model and data (tests/unit/test_evaluate.py).

Sources of labelled rows (`Labelled`: features, label, the score served on arrival,
and the hidden probability when the source knows it):
- `scored_csv(scorer, path, target)`: numeric cells as features (others left out),
  the target as a bool (1/0, true/false, yes/no); the row number is the lead id.
- `streams.traffic.labelled.scored_traffic(scorer, count, seed=..)`: synthetic leads
  through `ingest_one` on a clock that moves with the leads, labelled by the generator's
  outcomes, with its hidden p for the oracle's AUC (the simulator stays out of this module).

`replay(scorer, rows, delay=.., every=..)` yields a `Progress` every `every` labels and
at the end: each arm's metrics, plus the exact ROC AUC of the served scores and of
the oracle over the same recent labels (the arms' metric window).
"""

from __future__ import annotations

import csv
import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from river import stream

from streams.scoring.arms import METRICS_WINDOW, Scorer
from streams.scoring.model import Features

_TRUE = frozenset({"1", "1.0", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "0.0", "false", "no", "n", "f", ""})


class Labelled(NamedTuple):
    features: Features
    converted: bool
    score: float  # what the serving arm said when the lead arrived
    oracle: float | None = None  # the generator's hidden conversion probability


class Progress(NamedTuple):
    labels: int
    arms: dict[str, dict[str, float | None]]
    served_auc: float | None  # exact, over the last `window` labels
    oracle_auc: float | None  # exact, same labels; None without hidden truth
    window: int


def scored_rows(scorer: Scorer, rows: Iterable[tuple[str, Features, bool]]) -> Iterator[Labelled]:
    """Score each (lead_id, features, label) on arrival, as the worker would."""
    for lead_id, x, converted in rows:
        yield Labelled(x, converted, scorer.score_one(lead_id, x).score)


def parse_target(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"target {value!r} is not a boolean (1/0, true/false, yes/no)")


def _numeric(cells: dict[str, Any]) -> Features:
    x: Features = {}
    for name, cell in cells.items():
        try:
            value = float(cell)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            x[name] = value
    return x


def csv_rows(path: Path, target: str) -> Iterator[tuple[str, Features, bool]]:
    """(row number, numeric cells, target) for each row of a CSV with a header."""
    with path.open(newline="") as f:
        header = next(csv.reader(f), [])
    if target not in header:
        raise ValueError(f"{path}: no column {target!r} (have {', '.join(header[:10])})")
    for i, (cells, label) in enumerate(stream.iter_csv(str(path), target=target), start=1):
        try:
            converted = parse_target(label)
        except ValueError as exc:
            raise ValueError(f"{path} row {i}: {exc}") from exc
        yield str(i), _numeric(cells), converted


def scored_csv(scorer: Scorer, path: Path, target: str) -> Iterator[Labelled]:
    return scored_rows(scorer, csv_rows(path, target))


def exact_auc(probs: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties sharing their average rank.

    >>> exact_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    """
    scores = np.asarray(probs, dtype=float)
    positive = np.asarray(labels, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both positive and negative labels")
    order = np.argsort(scores, kind="mergesort")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(scores.size, dtype=float)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _auc(scores: Iterable[float], labels: Sequence[bool]) -> float | None:
    if all(labels) or not any(labels):
        return None
    return exact_auc(list(scores), labels)


def replay(
    scorer: Scorer,
    rows: Iterable[Labelled],
    *,
    delay: int = 0,
    every: int = 1_000,
    window: int = METRICS_WINDOW,
) -> Iterator[Progress]:
    """Learn each row `delay` rows after it was scored; report every `every` labels."""
    if delay < 0:
        raise ValueError("delay must be at least 0")
    pending: deque[Labelled] = deque()
    recent: deque[Labelled] = deque(maxlen=window)
    learned = 0

    def progress() -> Progress:
        labels = [row.converted for row in recent]
        truth = [row.oracle for row in recent if row.oracle is not None]
        oracle = _auc(truth, labels) if len(truth) == len(labels) else None
        return Progress(
            labels=learned,
            arms={name: arm.status()["metrics"] for name, arm in scorer.arms.items()},
            served_auc=_auc((row.score for row in recent), labels),
            oracle_auc=oracle,
            window=window,
        )

    def learn(row: Labelled) -> Progress | None:
        nonlocal learned
        scorer.learn_one(row.features, row.converted)
        recent.append(row)
        learned += 1
        return progress() if every and learned % every == 0 else None

    for row in rows:  # the source scores each row as it is drawn: arrival order
        pending.append(row)
        if len(pending) > delay and (report := learn(pending.popleft())):
            yield report
    while pending:
        if report := learn(pending.popleft()):
            yield report
    if not every or learned % every:
        yield progress()


def render(progress: Progress, header: bool = False) -> str:
    """One line of the progress table (with its header line first when asked)."""
    arms = list(progress.arms)
    metrics = list(next(iter(progress.arms.values()), {}))
    cells = [f"{progress.labels:>8}"]
    for arm in arms:
        for metric in metrics:
            value = progress.arms[arm].get(metric)
            cells.append(f"{'-' if value is None else f'{value:.4f}':>10}")
    for extra in (progress.served_auc, progress.oracle_auc):
        cells.append(f"{'-' if extra is None else f'{extra:.4f}':>10}")
    line = " ".join(cells)
    if not header:
        return line
    short = {"roc_auc": "auc", "log_loss": "logloss", "calibration_error": "ece"}
    names = [f"{'labels':>8}"]
    names += [f"{(arm[:5] + ':' + short.get(m, m))[:10]:>10}" for arm in arms for m in metrics]
    names += [f"{'served_auc':>10}", f"{'oracle_auc':>10}"]
    return " ".join(names) + "\n" + line
