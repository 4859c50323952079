"""Online conversion models: River pipelines behind a small contract.

Contract (River's own): score before learning; `learn_one` never mutates its
input; `score_one` is defined from the first lead on (a cold model says 0.5 or
its prior); models pickle cleanly; all randomness is seeded.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from typing import Any

from river import base, compose, linear_model, naive_bayes, optim, preprocessing, tree

Features = dict[str, float]

# Where a model spec may name its steps: one short name each, River's own class names.
_STEP_MODULES = (preprocessing, linear_model, naive_bayes, tree)


def _step(name: str, seed: int) -> base.Estimator:
    name = name.strip()
    if name == "LogisticRegression":
        # A modest constant rate: River's default 0.01 learns too slowly for leads that
        # convert a few percent of the time; an intercept rate keeps the base rate honest.
        return linear_model.LogisticRegression(optimizer=optim.SGD(0.05), intercept_lr=0.05)
    for module in _STEP_MODULES:
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, base.Estimator):
            kwargs: dict[str, Any] = {}
            if "seed" in cls.__init__.__code__.co_varnames:
                kwargs["seed"] = seed
            return cls(**kwargs)
    raise ValueError(f"unknown model step {name!r}: use River class names such as "
                     "StandardScaler|LogisticRegression")


def build_pipeline(spec: str, seed: int = 42) -> base.Estimator:
    """A River pipeline from a spec such as ``StandardScaler|LogisticRegression``."""
    steps = [_step(name, seed) for name in spec.split("|") if name.strip()]
    if not steps:
        raise ValueError("empty model spec")
    return compose.Pipeline(*steps) if len(steps) > 1 else steps[0]


@dataclass
class ConversionModel:
    """A binary conversion-probability model that learns one outcome at a time."""

    spec: str = "StandardScaler|LogisticRegression"
    seed: int = 42
    name: str = "champion"
    n_learned: int = 0
    pipeline: base.Estimator = field(init=False)

    def __post_init__(self) -> None:
        self.pipeline = build_pipeline(self.spec, self.seed)

    @property
    def version(self) -> str:
        """Name, spec and how much the model has learned: enough to tell two scores apart."""
        spec_hash = hashlib.blake2b(self.spec.encode(), digest_size=3).hexdigest()
        return f"{self.name}-{spec_hash}-n{self.n_learned}"

    def score_one(self, x: Features) -> float:
        proba = self.pipeline.predict_proba_one(x)
        return float(proba.get(True, 0.0)) if proba else 0.5

    def learn_one(self, x: Features, converted: bool) -> None:
        # River's scaler keeps its own copy of stats; it does not write into `x`.
        self.pipeline.learn_one(x, converted)
        self.n_learned += 1

    def dumps(self) -> bytes:
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(blob: bytes) -> ConversionModel:
        model = pickle.loads(blob)
        if not isinstance(model, ConversionModel):
            raise TypeError(f"not a ConversionModel checkpoint: {type(model).__name__}")
        return model
