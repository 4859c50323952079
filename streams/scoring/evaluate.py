"""Replay a labelled stream through the scoring path and report progressive metrics.

The calls are the worker's own: `Scorer.score_one` when a lead arrives (for generated
traffic inside `ingest_one`, so the features are the production features) and
`Scorer.learn_one` when its label arrives, `delay` leads later (River's `simulate_qa`
order: labels still pending when the stream ends are revealed then). Two families of
figures per arm, named as such wherever they are printed:
- **cumulative** (`Progress.cumulative`, `streams.scoring.progressive`): every arm
  predicts every lead on arrival; River's metrics over all labels so far, equal to
  River's `evaluate.progressive_val_score(data, model, metric, delay=N)` on the same
  model and data (tests/unit/streams/scoring/test_evaluate.py, through the CLI);
- **rolling** (`Progress.arms`): the arms' own metrics, as the worker keeps them.

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
import itertools
import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from river import stream

from streams.scoring.arms import METRICS_WINDOW, Scorer
from streams.scoring.model import Features
from streams.scoring.progressive import DEFAULT_METRICS, SHORT_NAMES, ArmPredictions, Cumulative

_TRUE = frozenset({"1", "1.0", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "0.0", "false", "no", "n", "f", ""})


class Labelled(NamedTuple):
    features: Features
    converted: bool
    score: float  # what the serving arm said when the lead arrived
    oracle: float | None = None  # the generator's hidden conversion probability


class Progress(NamedTuple):
    labels: int
    arms: dict[str, dict[str, float | None]]  # each arm's own rolling metrics (the worker's)
    served_auc: float | None  # exact, over the last `window` labels
    oracle_auc: float | None  # exact, same labels; None without hidden truth
    window: int
    #: Per arm, cumulative over every label so far, from arrival predictions: River's
    #: metrics by class name (``ROCAUC``…), ``ece_raw``, ``ece``, ``log_loss_cal``.
    cumulative: dict[str, dict[str, float | None]] | None = None


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


class Replay:
    """What a replay saw, in label order: enough for a baseline, a plot and last-N figures."""

    def __init__(self, arm_names: Sequence[str]) -> None:
        self.features: list[Features] = []
        self.labels: list[bool] = []
        self.oracle: list[float | None] = []
        self.served: list[float] = []
        self.arrival: dict[str, list[float | None]] = {arm: [] for arm in arm_names}
        self.arrival_raw: dict[str, list[float | None]] = {arm: [] for arm in arm_names}
        self.curve: list[Progress] = []
        self.cumulative: Cumulative | None = None  # the replay's, for reliability curves

    def add(self, row: Labelled, said: dict[str, ArmPredictions]) -> None:
        self.features.append(row.features)
        self.labels.append(row.converted)
        self.oracle.append(row.oracle)
        self.served.append(row.score)
        for arm, prediction in said.items():
            self.arrival[arm].append(prediction.calibrated)
            self.arrival_raw[arm].append(prediction.raw)

    def reliability(self, arm: str, kind: str, bins: int = 15) -> list[tuple[float, float]]:
        """(mean prediction, conversion rate) in `bins` groups of equal size by prediction.

        Equal-count groups, not equal-width bins: lead scores crowd below 0.2, where ten
        equal-width bins would put nearly every label in the first one.
        """
        scores = (self.arrival if kind == "calibrated" else self.arrival_raw)[arm]
        pairs = sorted((p, y) for p, y in zip(scores, self.labels, strict=True) if p is not None)
        if len(pairs) < bins:
            return []
        p = np.array([a for a, _ in pairs])
        y = np.array([b for _, b in pairs], dtype=float)
        return [(float(pc.mean()), float(yc.mean()))
                for pc, yc in zip(np.array_split(p, bins), np.array_split(y, bins), strict=True)]

    def last_auc(self, n: int) -> dict[str, float | None]:
        """Exact ROC AUC over the last `n` labels: each arm at arrival, served, oracle."""
        labels = self.labels[-n:]
        out: dict[str, float | None] = {}
        for arm, scores in self.arrival.items():
            tail = scores[-n:]
            out[arm] = None if None in tail else _auc(tail, labels)  # type: ignore[arg-type]
        out["served"] = _auc(self.served[-n:], labels)
        oracle = self.oracle[-n:]
        out["oracle"] = None if None in oracle else _auc(oracle, labels)  # type: ignore[arg-type]
        return out


def replay(
    scorer: Scorer,
    rows: Iterable[Labelled],
    *,
    delay: int = 0,
    every: int = 1_000,
    window: int = METRICS_WINDOW,
    metrics: Sequence[str] = DEFAULT_METRICS,
    record: Replay | None = None,
) -> Iterator[Progress]:
    """River's progressive validation of every arm, labels `delay` leads late.

    As `river.stream.simulate_qa` with an integer delay: before lead ``j`` arrives, the
    labels of leads ``i <= j - delay`` (delay 0: all earlier leads) are revealed (the
    predictions made on their arrival go into the cumulative metrics, then both arms
    learn); then lead ``j`` is drawn, which scores it, and every arm predicts it. Labels
    still pending at the end are revealed then. Reports every `every` labels and at the end.
    """
    if delay < 0:
        raise ValueError("delay must be at least 0")
    cumulative = Cumulative(list(scorer.arms), metrics)
    if record is not None:
        record.cumulative = cumulative
    pending: deque[tuple[int, Labelled, dict[str, ArmPredictions]]] = deque()
    recent: deque[Labelled] = deque(maxlen=window)
    learned = 0

    def progress() -> Progress:
        labels = [row.converted for row in recent]
        truth = [row.oracle for row in recent if row.oracle is not None]
        oracle = _auc(truth, labels) if len(truth) == len(labels) else None
        report = Progress(
            labels=learned,
            arms={name: arm.status()["metrics"] for name, arm in scorer.arms.items()},
            served_auc=_auc((row.score for row in recent), labels),
            oracle_auc=oracle,
            window=window,
            cumulative=cumulative.get(),
        )
        if record is not None:
            record.curve.append(report)
        return report

    def reveal(row: Labelled, said: dict[str, ArmPredictions]) -> Progress | None:
        nonlocal learned
        cumulative.update(row.converted, said)
        if record is not None:
            record.add(row, said)
        scorer.learn_one(row.features, row.converted)
        recent.append(row)
        learned += 1
        return progress() if every and learned % every == 0 else None

    source = iter(rows)
    for j in itertools.count():
        while pending and pending[0][0] + delay <= j:  # delay 0: everything before lead j
            if report := reveal(*pending.popleft()[1:]):
                yield report
        row = next(source, None)  # drawing a row scores it: the serving arm, at arrival
        if row is None:
            break
        said = {name: ArmPredictions.of(arm, row.features, cumulative.needs_labels)
                for name, arm in scorer.arms.items()}
        pending.append((j, row, said))
    while pending:
        if report := reveal(*pending.popleft()[1:]):
            yield report
    if not every or learned % every:
        yield progress()


def _cell(value: float | None) -> str:
    return f"{'-' if value is None else f'{value:.4f}':>10}"


def render(progress: Progress, header: bool = False) -> str:
    """One line of the progress table (with its header and a legend first when asked).

    Per arm: the cumulative River metrics (``champ:auc``…), then the rolling ones
    (``champ:r_auc``, ``champ:r_ll``: the arm's last-`window` labels); then the exact AUC
    of the served scores and of the oracle over the same rolling window.
    """
    arms = list(progress.arms)
    cumulative = progress.cumulative or {}
    river_names = [name for name in next(iter(cumulative.values()), {})
                   if name not in ("ece_raw", "ece", "log_loss_cal")]
    cells = [f"{progress.labels:>8}"]
    for arm in arms:
        cells += [_cell(cumulative.get(arm, {}).get(name)) for name in river_names]
    for arm in arms:
        cells += [_cell(progress.arms[arm].get(name)) for name in ("roc_auc", "log_loss")]
    cells += [_cell(progress.served_auc), _cell(progress.oracle_auc)]
    line = " ".join(cells)
    if not header:
        return line
    names = [f"{'labels':>8}"]
    names += [f"{(arm[:5] + ':' + SHORT_NAMES.get(m, m))[:10]:>10}"
              for arm in arms for m in river_names]
    names += [f"{(arm[:5] + ':' + m):>10}" for arm in arms for m in ("r_auc", "r_ll")]
    names += [f"{'r_served':>10}", f"{'r_oracle':>10}"]
    legend = (f"# cumulative (as River's progressive_val_score): {', '.join(river_names)}; "
              f"r_* rolling over the last {progress.window:,} labels")
    return legend + "\n" + " ".join(names) + "\n" + line
