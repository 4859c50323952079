"""Reason codes and feature importance for linear models, from the one transform a score needs.

Contract:
- `LinearExplainer.of(estimator)` applies to a River `LogisticRegression`, alone or as the
  last step of a pipeline of plain transformers; for any other kind (trees, naive Bayes)
  it is None and callers report no reasons: those models have no additive per-feature
  decomposition of their score that is cheap and honest.
- `transform(x)` runs the transformers once; `proba(z)` is then bit for bit what the
  pipeline's `predict_proba_one(x)` says (same steps, same calls), and `contributions(z)`
  are ``w_i * z_i`` from that same ``z``. After a `StandardScaler`, ``z_i`` is in standard
  deviations from the running mean, so a contribution is how far that feature moved this
  lead's log-odds away from an average lead's.
- `top_reasons(z, weights, k)`: the `k` largest |contribution|s as ``name+`` (pushed the
  score up) or ``name-``; ties broken by name, zero contributions never reported.
- `Importance`: the decayed mean |contribution| per feature, a half-life counted in updates.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from river import base, compose, linear_model

Features = dict[str, float]
Contributions = dict[str, float]


class LinearExplainer:
    """A view of a (pipeline ending in a) logistic regression that exposes its transform."""

    __slots__ = ("linear", "transformers")

    def __init__(self, transformers: tuple[base.Transformer, ...],
                 linear: linear_model.LogisticRegression) -> None:
        self.transformers = transformers
        self.linear = linear

    @classmethod
    def of(cls, estimator: base.Estimator) -> LinearExplainer | None:
        steps = (list(estimator.steps.values()) if isinstance(estimator, compose.Pipeline)
                 else [estimator])
        *transformers, last = steps
        if not isinstance(last, linear_model.LogisticRegression):
            return None
        for step in transformers:
            # An anomaly filter decides what is learned, not how a lead is transformed.
            if not isinstance(step, base.Transformer) or isinstance(step, base.AnomalyFilter):
                return None
        return cls(tuple(transformers), last)

    def transform(self, x: Features) -> Features:
        for step in self.transformers:
            x = step.transform_one(x)
        return x

    def proba(self, z: Features) -> float:
        return self.linear.predict_proba_one(z)[True]

    def weights(self) -> dict[str, float]:
        return self.linear.weights

    def contributions(self, z: Features) -> Contributions:
        weights = self.linear.weights
        return {name: weights.get(name, 0.0) * value for name, value in z.items()}


def top_reasons(z: Features, weights: Mapping[str, float], k: int) -> list[str]:
    """Reason codes for the `k` features that moved the log-odds most (``name+``/``name-``)."""
    ranked = []
    for name, value in z.items():
        contribution = weights.get(name, 0.0) * value
        if contribution:
            ranked.append((abs(contribution), name, contribution))
    # Tuples compare in C: no key function on the hot path; equal sizes fall back to the name.
    return [f"{name}+" if c > 0 else f"{name}-" for _, name, c in heapq.nlargest(k, ranked)]


class Importance:
    """Decayed mean |contribution| per feature: which inputs drive the model lately."""

    __slots__ = ("_decay", "_sums", "_weight")

    def __init__(self, half_life: float = 2_000.0) -> None:
        if half_life <= 0:
            raise ValueError("half_life must be positive")
        self._decay = 0.5 ** (1.0 / half_life)
        self._sums: dict[str, float] = {}
        self._weight = 0.0  # the decayed count: dividing by it unbiases the first updates

    def update(self, contributions: Mapping[str, float]) -> None:
        decay = self._decay
        sums = self._sums
        for name in sums:
            sums[name] *= decay
        for name, value in contributions.items():
            sums[name] = sums.get(name, 0.0) + abs(value)
        self._weight = self._weight * decay + 1.0

    def get(self) -> dict[str, float]:
        """Mean |contribution| per feature, largest first."""
        if not self._weight:
            return {}
        ranked = sorted(self._sums.items(), key=lambda kv: (-kv[1], kv[0]))
        return {name: total / self._weight for name, total in ranked}
