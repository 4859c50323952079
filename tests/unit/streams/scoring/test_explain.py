"""Reason codes are the true top contributions; importances are decayed mean |w·z|."""

from __future__ import annotations

import math
import random

import pytest
from river import compose, linear_model, naive_bayes, preprocessing, tree

from streams.scoring.explain import Importance, LinearExplainer, top_reasons
from streams.scoring.model import ConversionModel


def _hand_made(
    weights: dict[str, float], intercept: float = 0.0
) -> linear_model.LogisticRegression:
    model = linear_model.LogisticRegression()
    model._weights.update(weights)  # no public setter: River learns its weights
    model.intercept = intercept
    return model


def test_reason_codes_on_a_hand_made_linear_model() -> None:
    model = _hand_made({"a": 2.0, "b": -3.0, "c": 0.5, "d": 0.0}, intercept=-1.0)
    explainer = LinearExplainer.of(model)
    assert explainer is not None
    x = {"a": 1.0, "b": 1.0, "c": 10.0, "d": 5.0, "e": 7.0}  # contributions 2, -3, 5, 0, 0
    z = explainer.transform(x)
    assert z == x  # no transformers: the model sees x itself
    assert explainer.contributions(z) == {"a": 2.0, "b": -3.0, "c": 5.0, "d": 0.0, "e": 0.0}
    assert top_reasons(z, explainer.weights(), 3) == ["c+", "b-", "a+"]
    assert top_reasons(z, explainer.weights(), 10) == ["c+", "b-", "a+"]  # zeros never reported
    assert top_reasons(z, explainer.weights(), 1) == ["c+"]
    assert explainer.proba(z) == pytest.approx(1 / (1 + math.exp(-(2 - 3 + 5 - 1.0))))


def test_equal_contributions_rank_by_name() -> None:
    assert top_reasons({"b": 1.0, "a": -1.0, "c": 1.0}, {"a": 1.0, "b": 1.0, "c": 1.0}, 2) == [
        "c+", "b+"]


def test_reason_codes_match_brute_force_on_a_trained_pipeline() -> None:
    model = ConversionModel(spec="StandardScaler|LogisticRegression")
    rng = random.Random(3)
    names = [f"f{i}" for i in range(12)]
    rows = []
    for _ in range(800):
        x = {name: rng.gauss(i % 3, 1 + i % 2) for i, name in enumerate(names)}
        rows.append((x, x["f1"] - 2 * x["f4"] + 0.5 * x["f7"] + rng.gauss(0, 1) > 0))
    for x, y in rows:
        model.learn_one(x, y)
    scaler, linear = model.pipeline.steps.values()
    weights = linear.weights
    for x, _ in rows[:50]:
        z = scaler.transform_one(x)
        contributions = {name: weights.get(name, 0.0) * value for name, value in z.items()}
        ranked = sorted(contributions, key=lambda name: -abs(contributions[name]))[:3]
        expected = [f"{name}{'+' if contributions[name] > 0 else '-'}" for name in ranked]
        score, reasons = model.explain_one(x, 3)
        assert reasons == expected
        assert score == model.pipeline.predict_proba_one(x)[True]
        p, from_learning_path = model.contributions_one(x)
        assert p == score and from_learning_path == pytest.approx(contributions)


@pytest.mark.parametrize("estimator", [
    naive_bayes.GaussianNB(),
    tree.HoeffdingTreeClassifier(),
    compose.Pipeline(preprocessing.StandardScaler(), naive_bayes.GaussianNB()),
])
def test_non_linear_models_have_no_explainer(estimator: object) -> None:
    assert LinearExplainer.of(estimator) is None  # type: ignore[arg-type]


def test_importance_is_a_decayed_mean_of_absolute_contributions() -> None:
    importance = Importance(half_life=1.0)  # each update halves the weight of the past
    importance.update({"a": -2.0, "b": 1.0})
    assert importance.get() == {"a": 2.0, "b": 1.0}  # one update: its own |values|
    importance.update({"a": 4.0})
    # a: (2·½ + 4) / (½ + 1); b: (1·½ + 0) / (½ + 1) — absent means no contribution
    assert importance.get() == pytest.approx({"a": 5 / 1.5, "b": 0.5 / 1.5})
    assert list(importance.get()) == ["a", "b"]  # largest first


def test_importance_forgets_with_its_half_life() -> None:
    importance = Importance(half_life=100.0)
    for _ in range(1000):
        importance.update({"old": 1.0})
    for _ in range(100):
        importance.update({"new": 1.0})
    got = importance.get()
    # After one half-life, the new feature carries about half of the decayed weight.
    assert got["new"] == pytest.approx(0.5, abs=0.01) and got["old"] == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="half_life"):
        Importance(half_life=0)
