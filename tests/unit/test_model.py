"""River's model contract, for every model spec we ship."""

from __future__ import annotations

import copy
import pickle
import random

import pytest

from streams.model import ConversionModel, build_pipeline

SPECS = ["StandardScaler|LogisticRegression", "GaussianNB", "StandardScaler|GaussianNB"]


def _stream(seed: int, n: int = 300) -> list[tuple[dict[str, float], bool]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        x = {"a": rng.gauss(0, 1), "b": rng.gauss(0, 1), "c": float(rng.random() < 0.3)}
        rows.append((x, x["a"] + 0.5 * x["c"] + rng.gauss(0, 0.5) > 0.8))
    return rows


@pytest.mark.parametrize("spec", SPECS)
def test_scores_before_learning(spec: str) -> None:
    score = ConversionModel(spec=spec).score_one({"a": 1.0})
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("spec", SPECS)
def test_learn_does_not_mutate_input(spec: str) -> None:
    model = ConversionModel(spec=spec)
    for x, y in _stream(1, 50):
        before = copy.deepcopy(x)
        model.score_one(x)
        model.learn_one(x, y)
        assert x == before


@pytest.mark.parametrize("spec", SPECS)
def test_pickles_and_carries_on_identically(spec: str) -> None:
    model = ConversionModel(spec=spec)
    rows = _stream(2)
    for x, y in rows[:150]:
        model.learn_one(x, y)
    clone = ConversionModel.loads(model.dumps())
    for x, y in rows[150:]:
        assert clone.score_one(x) == model.score_one(x)
        model.learn_one(x, y)
        clone.learn_one(x, y)
    assert clone.version == model.version


@pytest.mark.parametrize("spec", SPECS)
def test_seeded_runs_are_identical(spec: str) -> None:
    a, b = ConversionModel(spec=spec, seed=7), ConversionModel(spec=spec, seed=7)
    for x, y in _stream(3):
        assert a.score_one(x) == b.score_one(x)
        a.learn_one(x, y)
        b.learn_one(x, y)


def test_learning_improves_separation() -> None:
    model = ConversionModel()
    rows = _stream(4, 3000)
    for x, y in rows:
        model.learn_one(x, y)
    pos = [model.score_one(x) for x, y in rows[-500:] if y]
    neg = [model.score_one(x) for x, y in rows[-500:] if not y]
    assert sum(pos) / len(pos) > sum(neg) / len(neg) + 0.2


def test_version_tracks_learning() -> None:
    model = ConversionModel()
    v0 = model.version
    model.learn_one({"a": 1.0}, True)
    assert model.version != v0 and model.version.endswith("-n1")


def test_unknown_step_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown model step 'Nope'"):
        build_pipeline("StandardScaler|Nope")


def test_checkpoint_rejects_foreign_pickles() -> None:
    with pytest.raises(TypeError):
        ConversionModel.loads(pickle.dumps({"not": "a model"}))
