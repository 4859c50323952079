"""River's model contract, for every model wrapper and every model spec we ship."""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Callable
from typing import Any

import pytest

from streams.scoring.arms import Scorer
from streams.scoring.model import (
    DEFAULT_INTERCEPT_LR,
    DEFAULT_LR,
    DEFAULT_OPTIMIZER,
    ConversionModel,
    build_pipeline,
)

SPECS = [
    "StandardScaler|LogisticRegression",  # the default champion and challenger
    "StandardScaler|LogisticRegression(optimizer='AdaGrad', lr=0.1)",
    "LogisticRegression",
    "GaussianNB",
    "StandardScaler|GaussianNB",
    "HoeffdingTreeClassifier(grace_period=50)",
]
Row = tuple[dict[str, float], bool]


def _stream(seed: int, n: int = 300) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        x = {"a": rng.gauss(0, 1), "b": rng.gauss(0, 1), "c": float(rng.random() < 0.3)}
        rows.append((x, x["a"] + 0.5 * x["c"] + rng.gauss(0, 0.5) > 0.8))
    return rows


class _ModelWrapper:
    """ConversionModel as the contract sees it: score, explain, learn."""

    def __init__(self, spec: str, seed: int = 42) -> None:
        self.inner = ConversionModel(spec=spec, seed=seed)

    def score(self, i: int, x: dict[str, float]) -> tuple[float, list[str]]:
        return self.inner.explain_one(x, 3)

    def learn(self, x: dict[str, float], y: bool) -> None:
        self.inner.learn_one(x, y)

    def clone(self) -> _ModelWrapper:
        twin = copy.copy(self)
        twin.inner = ConversionModel.loads(self.inner.dumps())
        return twin


class _ScorerWrapper:
    """Scorer with a challenger of the same spec: both arms serve and both learn."""

    def __init__(self, spec: str, seed: int = 42) -> None:
        self.inner = Scorer.from_specs(spec, spec, seed=seed, challenger_share=0.5)

    def score(self, i: int, x: dict[str, float]) -> tuple[float, list[str]]:
        scored = self.inner.score_one(f"lead-{i}", x)
        return scored.score, scored.reasons

    def learn(self, x: dict[str, float], y: bool) -> None:
        self.inner.learn_one(x, y)

    def clone(self) -> _ScorerWrapper:
        twin = copy.copy(self)
        twin.inner = Scorer.loads(self.inner.dumps())
        return twin


WRAPPERS: list[Callable[..., Any]] = [_ModelWrapper, _ScorerWrapper]
CASES = [pytest.param(w, s, id=f"{w.__name__.strip('_')}-{s}") for w in WRAPPERS for s in SPECS]


@pytest.mark.parametrize(("wrapper", "spec"), CASES)
def test_scores_before_learning(wrapper: Callable[..., Any], spec: str) -> None:
    score, reasons = wrapper(spec).score(0, {"a": 1.0})
    assert 0.0 <= score <= 1.0
    assert reasons == []  # nothing learned: no feature moved the score yet


@pytest.mark.parametrize(("wrapper", "spec"), CASES)
def test_scoring_and_learning_do_not_mutate_input(wrapper: Callable[..., Any], spec: str) -> None:
    model = wrapper(spec)
    for i, (x, y) in enumerate(_stream(1, 80)):
        before = copy.deepcopy(x)
        model.score(i, x)
        model.learn(x, y)
        assert x == before


@pytest.mark.parametrize(("wrapper", "spec"), CASES)
def test_pickles_and_carries_on_identically(wrapper: Callable[..., Any], spec: str) -> None:
    model = wrapper(spec)
    rows = _stream(2)
    for x, y in rows[:150]:
        model.learn(x, y)
    clone = model.clone()
    for i, (x, y) in enumerate(rows[150:]):
        assert clone.score(i, x) == model.score(i, x)
        model.learn(x, y)
        clone.learn(x, y)


@pytest.mark.parametrize(("wrapper", "spec"), CASES)
def test_seeded_runs_are_identical(wrapper: Callable[..., Any], spec: str) -> None:
    a, b = wrapper(spec, seed=7), wrapper(spec, seed=7)
    for i, (x, y) in enumerate(_stream(3)):
        assert a.score(i, x) == b.score(i, x)
        a.learn(x, y)
        b.learn(x, y)


@pytest.mark.parametrize("spec", SPECS)
def test_explained_score_is_the_plain_score(spec: str) -> None:
    """One transform for score and reasons, and still exactly River's prediction."""
    model = ConversionModel(spec=spec)
    reference = build_pipeline(spec)
    for x, y in _stream(5, 200):
        expected = reference.predict_proba_one(x)
        score, _ = model.explain_one(x, 3)
        assert score == model.score_one(x) == (expected.get(True, 0.0) if expected else 0.5)
        model.learn_one(x, y)
        reference.learn_one(x, y)


@pytest.mark.parametrize(("spec", "explains"), [
    ("StandardScaler|LogisticRegression", True),
    ("LogisticRegression", True),
    ("GaussianNB", False),
    ("HoeffdingTreeClassifier", False),
])
def test_only_linear_models_give_reasons(spec: str, explains: bool) -> None:
    model = ConversionModel(spec=spec)
    rows = _stream(6, 300)
    for x, y in rows:
        model.learn_one(x, y)
    _, reasons = model.explain_one(rows[0][0], 3)
    assert bool(reasons) is explains
    assert all(r[:-1] in "abc" and r[-1] in "+-" for r in reasons)


def test_learning_improves_separation() -> None:
    model = ConversionModel()
    rows = _stream(4, 3000)
    for x, y in rows:
        model.learn_one(x, y)
    pos = [model.score_one(x) for x, y in rows[-500:] if y]
    neg = [model.score_one(x) for x, y in rows[-500:] if not y]
    assert sum(pos) / len(pos) > sum(neg) / len(neg) + 0.2


def test_version_tracks_learning_and_identity() -> None:
    model = ConversionModel(name="m7")
    v0 = model.version
    model.learn_one({"a": 1.0}, True)
    assert model.version != v0 and model.version.startswith("m7-") and model.version.endswith("-n1")
    assert ConversionModel(spec="GaussianNB", name="m7").version != v0


def test_spec_arguments_reach_the_model() -> None:
    default = build_pipeline("LogisticRegression")
    assert type(default.optimizer).__name__ == DEFAULT_OPTIMIZER
    assert default.optimizer.learning_rate == DEFAULT_LR
    assert default.intercept_lr.learning_rate == DEFAULT_INTERCEPT_LR
    ada = build_pipeline("LogisticRegression(optimizer='AdaGrad', lr=0.2, l2=0.001)")
    assert type(ada.optimizer).__name__ == "AdaGrad"
    assert ada.optimizer.learning_rate == 0.2 and ada.l2 == 0.001
    assert build_pipeline("HoeffdingTreeClassifier(grace_period=50)").grace_period == 50


@pytest.mark.parametrize(("spec", "message"), [
    ("StandardScaler|Nope", "unknown model step 'Nope'"),
    ("LogisticRegression(lr=)", "bad arguments"),
    ("LogisticRegression(0.1)", "bad arguments"),
    ("LogisticRegression(optimizer='Nope')", "unknown optimizer 'Nope'"),
    ("GaussianNB(nonsense=1)", "model step 'GaussianNB"),
    ("", "empty model spec"),
])
def test_bad_specs_are_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_pipeline(spec)


def test_checkpoint_rejects_foreign_pickles() -> None:
    with pytest.raises(TypeError):
        ConversionModel.loads(pickle.dumps({"not": "a model"}))


def test_a_checkpoint_from_before_explanations_still_loads_and_explains() -> None:
    model = ConversionModel()
    for x, y in _stream(8, 100):
        model.learn_one(x, y)
    old_state = {k: v for k, v in model.__dict__.items() if k not in ("explainer", "_spec_hash")}
    legacy = ConversionModel.__new__(ConversionModel)
    legacy.__setstate__(pickle.loads(pickle.dumps(old_state)))
    x = {"a": 1.0, "b": -1.0, "c": 1.0}
    assert legacy.explain_one(x, 2) == model.explain_one(x, 2)
    assert legacy.version == model.version
