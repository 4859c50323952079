"""The hindsight baseline trains on the past only and is judged on the last labels."""

from __future__ import annotations

import random

import numpy as np
import pytest

from streams.scoring.baseline import hindsight_auc, matrix


def _rows(n: int, flip_after: int, seed: int = 1) -> tuple[list[dict[str, float]], list[bool]]:
    rng = random.Random(seed)
    features, labels = [], []
    for i in range(n):
        a = rng.gauss(0, 1)
        y = a + rng.gauss(0, 0.5) > 0
        features.append({"a": a} if i % 7 else {"a": a, "b": 1.0})  # "b" mostly missing
        labels.append(not y if i >= flip_after else y)
    return features, labels


def test_it_learns_from_the_past() -> None:
    features, labels = _rows(3_000, flip_after=10**9)
    result = hindsight_auc(features, labels, test=1_000)
    assert result.trained_on == 2_000 and result.tested_on == 1_000
    assert result.auc > 0.9


def test_it_never_sees_the_labels_it_is_judged_on() -> None:
    # The last 1,000 labels follow the opposite rule: a model that peeked would fit them.
    features, labels = _rows(3_000, flip_after=2_000)
    assert hindsight_auc(features, labels, test=1_000).auc < 0.1


def test_missing_features_are_nan_and_bad_windows_refused() -> None:
    x, names = matrix([{"a": 1.0}, {"b": 2.0}])
    assert names == ["a", "b"] and np.isnan(x[0, 1]) and np.isnan(x[1, 0])
    features, labels = _rows(100, flip_after=10**9)
    with pytest.raises(ValueError, match="more labels than its test window"):
        hindsight_auc(features, labels, test=100)
