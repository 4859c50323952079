"""The outcome join: fresh snapshots are learned, stale and unknown leads are dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.scoring.arms import Scorer
from streams.scoring.health import model_metrics_rows
from streams.scoring.labels import (
    KEEP_MS,
    MAX_LABEL_AGE_MS,
    UNKNOWN_AFTER_MS,
    Snapshot,
    delay_s,
    from_stored,
    judge,
    outlived,
    stored,
)

NOW = 1_780_000_000_000


def test_a_known_fresh_lead_is_learned_with_its_delay() -> None:
    snapshot = Snapshot({"a": 1.0}, scored_ms=NOW - 90_000)
    assert judge(snapshot, NOW, NOW) == "learn"
    assert delay_s(snapshot, NOW) == 90.0


def test_an_outcome_long_after_scoring_is_expired() -> None:
    snapshot = Snapshot({"a": 1.0}, scored_ms=NOW - MAX_LABEL_AGE_MS - 1)
    assert judge(snapshot, NOW, NOW) == "expired"


@pytest.mark.parametrize(("age_ms", "verdict"), [(0, "wait"), (UNKNOWN_AFTER_MS, "wait"),
                                                 (UNKNOWN_AFTER_MS + 1, "unknown")])
def test_without_a_snapshot_a_fresh_outcome_waits_and_an_old_one_is_unknown(
    age_ms: int, verdict: str
) -> None:
    assert judge(None, NOW - age_ms, NOW) == verdict


def test_snapshots_round_trip_and_the_old_bare_form_still_reads() -> None:
    snapshot = Snapshot({"a": 1.0, "features": 2.0}, scored_ms=5)
    assert isinstance(stored(snapshot), str) and from_stored(stored(snapshot)) == snapshot
    assert from_stored({"features": {"a": 1.0}, "scored_ms": 5}) == Snapshot({"a": 1.0}, 5)
    old = from_stored({"a": 1.0, "b": 0.0})  # what the table held before scoring times
    assert old == Snapshot({"a": 1.0, "b": 0.0}) and delay_s(old, NOW) is None
    assert judge(old, NOW, NOW) == "learn"  # no scoring time: never called expired


def test_health_rows_give_each_arm_three_spans() -> None:
    scorer = Scorer.from_specs("StandardScaler|LogisticRegression",
                               "StandardScaler|LogisticRegression")
    for i in range(400):
        scorer.learn_one({"a": float(i % 7)}, i % 7 > 4, at_ms=NOW - 10_000 + i, delay_s=30.0)
    rows = model_metrics_rows(scorer, datetime.fromtimestamp(NOW / 1000, UTC), "w:1")
    assert [(r.arm, r.span) for r in rows] == [
        (arm, span) for arm in ("champion", "challenger") for span in ("lifetime", "rolling",
                                                                       "hour")]
    by_span = {r.span: r for r in rows if r.arm == "champion"}
    assert by_span["lifetime"].labels == by_span["hour"].labels == 400
    assert by_span["lifetime"].label_delay_s == by_span["hour"].label_delay_s == 30.0
    assert by_span["rolling"].raw_calibration_error is not None
    assert by_span["hour"].roc_auc > 0.9  # the label is a function of a
    assert rows[0].recorded_at.microsecond == 0 and rows[0].worker == "w:1"


def test_a_snapshot_outlives_its_use_a_month_and_an_hour_after_scoring() -> None:
    scored = NOW - KEEP_MS
    assert not outlived(stored(Snapshot({"a": 1.0}, scored_ms=scored)), NOW)
    assert outlived(stored(Snapshot({"a": 1.0}, scored_ms=scored - 1)), NOW)
    assert not outlived({"features": {}, "scored_ms": scored}, NOW)  # as kept before
    assert outlived({"features": {}, "scored_ms": scored - 1}, NOW)
    assert not outlived(stored(Snapshot({"a": 1.0})), NOW)  # undated
    # Past that, an outcome it could still teach happened over an hour before it reached
    # us: without its snapshot such an outcome is unknown, as any that late.
    late = Snapshot({}, scored_ms=scored - 1)
    assert judge(late, scored - 1 + MAX_LABEL_AGE_MS + 1, NOW) == "expired"
    assert judge(None, scored - 1 + MAX_LABEL_AGE_MS, NOW) == "unknown"
    assert not outlived({"a": 1.0}, NOW)  # undated: could still teach
    assert outlived({"learned": True, "at_ms": scored - 1}, NOW)
    assert not outlived({"learned": True, "at_ms": scored}, NOW)
    assert outlived({"learned": True}, NOW)  # undated marks predate dating
