"""Online conversion models: River pipelines behind a small contract.

Contract (River's own): score before learning; `learn_one` never mutates its
input; `score_one` is defined from the first lead on (a model with no opinion
yet says 0.5); models pickle cleanly; all randomness is seeded.

Specs name River classes joined by ``|``, optionally with keyword arguments:
``StandardScaler|LogisticRegression``, ``StandardScaler|LogisticRegression(lr=0.05)``,
``HoeffdingTreeClassifier(grace_period=100)``. For a logistic regression,
``optimizer`` names a River optimizer (`DEFAULT_OPTIMIZER`) and ``lr`` its rate on the
weights (`DEFAULT_LR`): ``LogisticRegression(optimizer='AdaGrad', lr=0.1)``; the
intercept learns at `DEFAULT_INTERCEPT_LR` unless ``intercept_lr`` says otherwise.

Linear models (a `LogisticRegression`, alone or after transformers) also explain
their scores: `explain_one` transforms the input once and returns the
probability with reason codes taken from that same transform (`streams.scoring.explain`).
Other kinds give no reasons.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from river import base, compose, linear_model, naive_bayes, optim, preprocessing, tree

from streams.checkpoint import Pickled
from streams.scoring.explain import Contributions, LinearExplainer, top_reasons

Features = dict[str, float]

# Where a model spec may name its steps: one short name each, River's own class names.
_STEP_MODULES = (preprocessing, linear_model, naive_bayes, tree)
_STEP = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*(?:\((?P<args>.*)\))?\s*$", re.S)
#: Logistic regression defaults, from tests/bench/bench_learning.py (generated traffic
#: whose hour of day cycles, as live traffic does): a constant SGD rate of 0.005 with an
#: intercept at 0.02 gets within about 0.012 ROC AUC of the oracle after 20k labels,
#: whether labels come at once or 500 leads (4 hours) late. Faster intercepts, or
#: AdaGrad's large early steps, chase the base rate of the last few hours, which the
#: model no longer sees when labels are late (0.024 short with AdaGrad 0.1 and an
#: intercept at 0.05); a constant rate also keeps following drift where AdaGrad's
#: per-feature rates shrink for good. The price: the first ~2k labels learn slower.
DEFAULT_OPTIMIZER = "SGD"
DEFAULT_LR = 0.005
DEFAULT_INTERCEPT_LR = 0.02


def _kwargs(args: str, spec: str) -> dict[str, Any]:
    if not args.strip():
        return {}
    try:
        call = ast.parse(f"f({args})", mode="eval").body
        assert isinstance(call, ast.Call) and not call.args
        return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    except (SyntaxError, ValueError, AssertionError) as exc:
        raise ValueError(f"bad arguments in model spec {spec!r}: use name=literal") from exc


def _step(spec: str, seed: int) -> base.Estimator:
    match = _STEP.match(spec)
    if match is None:
        raise ValueError(f"bad model step {spec!r}")
    name, kwargs = match["name"], _kwargs(match["args"] or "", spec)
    if name == "LogisticRegression":
        optimizer = kwargs.pop("optimizer", DEFAULT_OPTIMIZER)
        lr = kwargs.pop("lr", DEFAULT_LR)
        if isinstance(optimizer, str):  # a River optimizer by name, at rate `lr`
            cls = getattr(optim, optimizer, None)
            if not (isinstance(cls, type) and issubclass(cls, optim.base.Optimizer)):
                raise ValueError(f"unknown optimizer {optimizer!r} in model spec {spec!r}")
            optimizer = cls(lr)
        kwargs["optimizer"] = optimizer
        kwargs.setdefault("intercept_lr", DEFAULT_INTERCEPT_LR)
    for module in _STEP_MODULES:
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, base.Estimator):
            if "seed" in cls.__init__.__code__.co_varnames:
                kwargs.setdefault("seed", seed)
            try:
                return cls(**kwargs)
            except TypeError as exc:
                raise ValueError(f"model step {spec.strip()!r}: {exc}") from exc
    raise ValueError(f"unknown model step {name!r}: use River class names such as "
                     "StandardScaler|LogisticRegression")


def build_pipeline(spec: str, seed: int = 42) -> base.Estimator:
    """A River pipeline from a spec such as ``StandardScaler|LogisticRegression``."""
    steps = [_step(part, seed) for part in spec.split("|") if part.strip()]
    if not steps:
        raise ValueError("empty model spec")
    return compose.Pipeline(*steps) if len(steps) > 1 else steps[0]


@dataclass
class ConversionModel(Pickled):
    """A binary conversion-probability model that learns one outcome at a time."""

    spec: str = "StandardScaler|LogisticRegression"
    seed: int = 42
    name: str = "m1"  # identity within a Scorer: survives promotion, unlike the arm
    n_learned: int = 0
    pipeline: base.Estimator = field(init=False, repr=False)
    explainer: LinearExplainer | None = field(init=False, repr=False)
    _spec_hash: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pipeline = build_pipeline(self.spec, self.seed)
        self._derive()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "_spec_hash" not in state:  # a checkpoint from before explanations: derive the rest
            self._derive()

    def _derive(self) -> None:
        # The explainer holds references into `pipeline`; pickle keeps them the same objects.
        self.explainer = LinearExplainer.of(self.pipeline)
        self._spec_hash = hashlib.blake2b(self.spec.encode(), digest_size=3).hexdigest()

    @property
    def version(self) -> str:
        """Name, spec and how much the model has learned: enough to tell two scores apart."""
        return f"{self.name}-{self._spec_hash}-n{self.n_learned}"

    def proba_one(self, x: Features) -> float | None:
        """P(converted), or None while the model has no opinion (River's empty dict)."""
        proba = self.pipeline.predict_proba_one(x)
        return float(proba.get(True, 0.0)) if proba else None

    def score_one(self, x: Features) -> float:
        p = self.proba_one(x)
        return 0.5 if p is None else p

    def explain_one(self, x: Features, k: int) -> tuple[float, list[str]]:
        """The score and up to `k` reason codes, from a single transform of `x`."""
        explainer = self.explainer
        if explainer is None or k <= 0:
            return self.score_one(x), []
        z = explainer.transform(x)
        return explainer.proba(z), top_reasons(z, explainer.weights(), k)

    def contributions_one(self, x: Features) -> tuple[float | None, Contributions]:
        """P(converted) (None: no opinion) and each feature's w·z (empty for non-linear kinds)."""
        explainer = self.explainer
        if explainer is None:
            return self.proba_one(x), {}
        z = explainer.transform(x)
        return explainer.proba(z), explainer.contributions(z)

    def learn_one(self, x: Features, converted: bool) -> None:
        # River's transformers return new dicts and keep their own statistics: `x` stays as is.
        self.pipeline.learn_one(x, converted)
        self.n_learned += 1
