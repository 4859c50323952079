"""Online Platt scaling: identity until fitted, monotone, closes the calibration gap, pickles."""

from __future__ import annotations

import pickle
import random
from itertools import pairwise
from pathlib import Path

import pytest

from streams.scoring.arms import CalibrationError, Scorer
from streams.scoring.calibrate import PlattCalibrator, logit, sigmoid

DATA = Path(__file__).resolve().parents[1] / "data"


def _miscalibrated(seed: int, n: int, a: float = 2.0, b: float = -1.0
                   ) -> list[tuple[float, bool]]:
    """Scores whose truth is sigmoid(a·logit(q) + b): over-confident and off-centre."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        q = rng.uniform(0.02, 0.98)
        rows.append((q, rng.random() < sigmoid(a * logit(q) + b)))
    return rows


def test_identity_until_enough_labels_of_both_kinds() -> None:
    calibrator = PlattCalibrator(min_labels=20)
    for _ in range(50):
        calibrator.learn_one(0.3, False)  # one class only: nothing to fit
    assert not calibrator.fitted and calibrator.calibrate(0.3) == 0.3


def test_it_learns_the_true_mapping_and_closes_the_gap() -> None:
    calibrator = PlattCalibrator()
    raw, fixed = CalibrationError(), CalibrationError()
    for q, y in _miscalibrated(1, 6_000):
        raw.update(y, q)
        fixed.update(y, calibrator.calibrate(q))  # predicted before the label is learned
        calibrator.learn_one(q, y)
    assert calibrator.a == pytest.approx(2.0, abs=0.2)
    assert calibrator.b == pytest.approx(-1.0, abs=0.2)
    assert raw.get() > 0.1 and fixed.get() < 0.03


def test_calibration_keeps_the_order_of_scores() -> None:
    calibrator = PlattCalibrator()
    for q, y in _miscalibrated(2, 1_000):
        calibrator.learn_one(q, y)
    grid = [i / 1000 for i in range(1, 1000)]
    out = [calibrator.calibrate(p) for p in grid]
    assert all(a < b for a, b in pairwise(out))


def test_a_reversed_fit_is_refused() -> None:
    calibrator = PlattCalibrator(min_labels=20)
    for q, y in _miscalibrated(3, 400, a=-2.0, b=0.0):  # higher scores convert less
        calibrator.learn_one(q, y)
    assert calibrator.a > 0  # never flat or reversed: the model's order is kept


def test_it_pickles_and_resumes() -> None:
    calibrator = PlattCalibrator()
    rows = _miscalibrated(4, 3_000)
    for q, y in rows[:1_500]:
        calibrator.learn_one(q, y)
    copy = pickle.loads(pickle.dumps(calibrator))
    for q, y in rows[1_500:]:
        calibrator.learn_one(q, y)
        copy.learn_one(q, y)
    assert copy.status() == calibrator.status()


def test_a_scorer_checkpointed_before_calibration_loads_and_learns_to_calibrate() -> None:
    scorer = Scorer.loads((DATA / "scorer-58cb97b.pkl").read_bytes())
    arm = scorer.champion
    assert not arm.calibrator.fitted  # fresh: the old served score stands until it learns
    assert set(arm.status()["lifetime"]) == {"roc_auc", "log_loss", "calibration_error",
                                             "label_delay_s"}
    for q, y in _miscalibrated(5, 300):
        scorer.learn_one({"a": q}, y)
    assert arm.calibrator.n_seen == 300 and arm.status()["lifetime"]["log_loss"] is not None
    # And it round-trips with its calibrator.
    again = Scorer.loads(scorer.dumps())
    assert again.champion.calibrator.status() == arm.calibrator.status()
