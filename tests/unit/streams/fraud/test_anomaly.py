"""The anomaly part of the fraud screen: warm-up, calibration, sampled learning.

The contract every model keeps (cold score, untouched input, pickling, seeding, no NaN)
is checked once for all of them in tests/unit/streams/test_model_contract.py.
"""

from __future__ import annotations

import pickle
import random

import pytest
from river import anomaly

from streams.fraud.anomaly import AnomalyScorer, Features


def _ordinary(rng: random.Random) -> Features:
    return {
        "has_name": 1.0,
        "has_email": 1.0 if rng.random() < 0.9 else 0.0,
        "has_phone": 1.0 if rng.random() < 0.8 else 0.0,
        "lag_usual": 1.0 / (1.0 + rng.expovariate(1 / 20) / 600),
        "consent": 1.0 if rng.random() < 0.8 else 0.0,
        "located": 1.0,
        "fresh": 1.0,
    }


ODD: Features = {
    "has_name": 0.0,
    "has_email": 1.0,
    "has_phone": 0.0,
    "lag_usual": 0.05,
    "consent": 0.0,
    "located": 0.0,
    "fresh": 0.2,
}


@pytest.fixture(scope="module")
def trained() -> AnomalyScorer:
    rng = random.Random(0)
    scorer = AnomalyScorer(seed=1)
    for _ in range(30_000):
        x = _ordinary(rng)
        scorer.score_one(x)
        scorer.learn_one(x)
    return scorer


def test_no_opinion_while_warming_up() -> None:
    scorer = AnomalyScorer(warmup=100)
    rng = random.Random(0)
    assert scorer.score_one(ODD) == 0.0
    while not scorer.ready:
        scorer.learn_one(_ordinary(rng))
    assert scorer.n_learned == 100


def test_scores_are_calibrated_and_odd_leads_stand_out(trained: AnomalyScorer) -> None:
    rng = random.Random(1)
    scores = [trained.score_one(_ordinary(rng)) for _ in range(5000)]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert sum(s > 0 for s in scores) / len(scores) < 0.03  # about 1 % of ordinary leads
    assert trained.score_one(ODD) == 1.0


def test_learning_is_a_sample_at_the_learn_rate() -> None:
    scorer = AnomalyScorer(seed=7)
    rng = random.Random(2)
    learned = [scorer.learn_one(_ordinary(rng)) for _ in range(5000)]
    assert 0.07 < sum(learned) / len(learned) < 0.13  # learn_rate 0.1
    assert scorer.n_learned == sum(learned)


def test_scoring_does_not_learn(trained: AnomalyScorer) -> None:
    state = pickle.dumps(trained)
    for _ in range(100):
        trained.score_one(ODD)
    assert pickle.dumps(trained) == state


def test_any_river_detector_fits() -> None:
    scorer = AnomalyScorer(anomaly.HalfSpaceTrees(seed=3), warmup=50)
    rng = random.Random(4)
    for _ in range(2000):
        x = _ordinary(rng)
        assert 0.0 <= scorer.score_one(x) <= 1.0
        scorer.learn_one(x)
    assert scorer.ready


def test_a_placeholder_name_is_no_name_to_the_model() -> None:
    from datetime import UTC, datetime

    from schemas.lead import Lead
    from streams.fraud.anomaly import fraud_features

    at = datetime(2026, 5, 1, tzinfo=UTC)

    def named(first: str, last: str) -> float:
        lead = Lead(lead_id="w:1", source="webform", source_lead_id="1", event_time=at,
                    received_time=at, first_name=first, last_name=last)
        return fraud_features(lead, 0, 0, 0, 0.0)["has_name"]

    assert named("Mickey", "Rourke") == 1.0
    assert named("Mickey", "Mouse") == named("Test", "User") == named("Jane", "") == 0.0
