"""The conversion model's own tests: specs, reason codes, versions, old checkpoints.

The contract every model keeps (cold score, untouched input, pickling, seeding, no NaN)
is checked once for all of them in tests/unit/streams/test_model_contract.py.
"""

from __future__ import annotations

import pickle
import random

import pytest

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


@pytest.mark.parametrize("spec", SPECS)
def test_no_reasons_before_learning(spec: str) -> None:
    _, reasons = ConversionModel(spec=spec).explain_one({"a": 1.0}, 3)
    assert reasons == []  # nothing learned: no feature moved the score yet


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
