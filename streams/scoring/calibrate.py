"""Online Platt scaling: turn a model's score into a probability people can bank on.

Contract:
- `PlattCalibrator.learn_one(p, converted)` remembers the model's prediction for a labelled
  lead (the last `window` pairs); every so often it refits ``sigmoid(a·logit(p) + b)`` on them
  by Newton's method, with a small ridge pulling towards the identity (a=1, b=0) so a few
  labels cannot swing it far. Refits come early and often at first (after `min_labels`,
  then each time the labels grew by half) and every `refit_every` labels later.
- `calibrate(p)` is the identity until the first fit, and always strictly increasing in `p`
  (a fit that would make it flat or reversed is refused): ranking by the calibrated score is
  ranking by the model's, so the ROC AUC of a ranking never changes, only the probability.
- Why Platt, not isotonic bins: two numbers learn from few labels, keep ties out of the
  rankings, and fix the usual fault of an online model (log-odds shrunk towards the base
  rate while it is young, or inflated by a too-fast learning rate) in one move.
- Pickles cleanly (plain floats and two numpy arrays).
"""

from __future__ import annotations

import math

import numpy as np

_EPS = 1e-6  # logit(0) and logit(1) are infinite; predictions are clipped this far inside


def logit(p: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class PlattCalibrator:
    """``p ↦ sigmoid(a·logit(p) + b)``, refitted on the last `window` labelled predictions."""

    def __init__(
        self,
        window: int = 10_000,
        *,
        min_labels: int = 20,
        refit_every: int = 250,
        ridge: float = 1.0,
    ) -> None:
        if window < 2 or min_labels < 2 or refit_every < 1:
            raise ValueError("window and min_labels need at least 2, refit_every at least 1")
        self.window = window
        self.min_labels = min_labels
        self.refit_every = refit_every
        self.ridge = ridge
        self.a = 1.0
        self.b = 0.0
        self.fitted = False
        self.n_seen = 0
        self.n_fits = 0
        self._next_fit = min_labels
        self._z = np.zeros(window)
        self._y = np.zeros(window)

    def calibrate(self, p: float) -> float:
        if not self.fitted:
            return p
        return sigmoid(self.a * logit(p) + self.b)

    def learn_one(self, p: float, converted: bool) -> None:
        i = self.n_seen % self.window
        self._z[i] = logit(p)
        self._y[i] = 1.0 if converted else 0.0
        self.n_seen += 1
        if self.n_seen >= self._next_fit:
            self._fit()
            grown = max(self.min_labels, self.n_seen // 2)
            self._next_fit = self.n_seen + min(grown, self.refit_every)

    def _fit(self) -> None:
        n = min(self.n_seen, self.window)
        z, y = self._z[:n], self._y[:n]
        positives = float(y.sum())
        if positives == 0.0 or positives == n:
            return  # one class only: nothing says how far off the scores are
        a, b = self.a, self.b
        for _ in range(25):
            p = 1.0 / (1.0 + np.exp(-np.clip(a * z + b, -50.0, 50.0)))
            w = p * (1.0 - p)
            r = p - y
            # Gradient and Hessian of Σ log loss + ridge/2·((a-1)² + b²).
            ga = float(r @ z) + self.ridge * (a - 1.0)
            gb = float(r.sum()) + self.ridge * b
            haa = float(w @ (z * z)) + self.ridge
            hab = float(w @ z)
            hbb = float(w.sum()) + self.ridge
            det = haa * hbb - hab * hab
            if det <= 0.0:
                return
            da = (hbb * ga - hab * gb) / det
            db = (haa * gb - hab * ga) / det
            a, b = a - da, b - db
            if abs(da) < 1e-7 and abs(db) < 1e-7:
                break
        if not (math.isfinite(a) and math.isfinite(b)) or a <= 0.05:
            return  # flat or reversed: the model's order is all it has; keep the last fit
        self.a, self.b, self.fitted = a, b, True
        self.n_fits += 1

    def status(self) -> dict[str, float | int | bool]:
        return {"a": self.a, "b": self.b, "fitted": self.fitted, "labels": self.n_seen,
                "fits": self.n_fits}
