"""A hindsight baseline: an offline gradient-boosted model on the same feature snapshots.

Contract: `hindsight_auc(features, labels, test=N)` trains scikit-learn's
`HistGradientBoostingClassifier` on every labelled snapshot but the last `test` (time
order kept: the model never sees the future it is judged on) and returns the exact ROC AUC
of its probabilities on those last `test` labels. The snapshots are the ones the online
arms were scored with, so the gap between the two AUCs is the price of learning online
(one pass, no look back) on this stream. Features missing from a snapshot are NaN, which
the boosted trees route on their own. Seeded: the same data gives the same figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from streams.scoring.evaluate import exact_auc
from streams.scoring.model import Features


class Baseline(NamedTuple):
    auc: float
    trained_on: int
    tested_on: int
    model: str


def matrix(features: Sequence[Features]) -> tuple[np.ndarray, list[str]]:
    """Rows by features (every name any snapshot has, sorted), NaN where a snapshot lacks one."""
    names = sorted({name for x in features for name in x})
    column = {name: i for i, name in enumerate(names)}
    out = np.full((len(features), len(names)), np.nan)
    for r, x in enumerate(features):
        for name, value in x.items():
            out[r, column[name]] = value
    return out, names


def hindsight_auc(features: Sequence[Features], labels: Sequence[bool], *, test: int,
                  seed: int = 42) -> Baseline:
    from sklearn.ensemble import HistGradientBoostingClassifier

    if not 0 < test < len(labels):
        raise ValueError(f"the baseline needs more labels than its test window ({test:,})")
    x, _ = matrix(features)
    y = np.asarray(labels, dtype=bool)
    split = len(y) - test
    if y[:split].all() or not y[:split].any():
        raise ValueError("the baseline's training labels are all of one class")
    model = HistGradientBoostingClassifier(random_state=seed)
    model.fit(x[:split], y[:split])
    proba = model.predict_proba(x[split:])[:, list(model.classes_).index(True)]
    return Baseline(exact_auc(proba, y[split:]), split, test, "HistGradientBoostingClassifier")
