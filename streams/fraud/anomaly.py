"""The online anomaly part of the fraud screen: a River detector, calibrated to [0, 1].

Contract (River's own, as in `streams.scoring.model`): `score_one` before `learn_one`;
neither mutates its input; the model pickles; all randomness is seeded (the
learning sample included). Warm-up is explicit: until `ready`, `score_one`
says 0.0 (no opinion).

Cost decides the detector. On this machine class `HalfSpaceTrees` costs 6-15 µs
a score even with 3-5 small trees, against a screen budget of ~10 µs; River's
linear `OneClassSVM` scores in ~0.5 µs and learns in ~6 µs, so it scores every
lead and learns from a seeded sample of the leads the rules passed (default one
in ten). Any River `AnomalyDetector` can be passed instead.

Calibration: the raw "how unusual" value (for the SVM, minus its decision value)
is mapped through the 99th and 99.9th percentiles of the raw values of the last
1,000 learning samples, re-taken every 250 learning samples with the detector as
it then is (it keeps learning, so old raw values drift off its scale): 0 at or
below the 99th, rising linearly to 1 at the 99.9th and beyond. So ``calibrated >
0`` for about 1 % of ordinary traffic and 1.0 for about 0.1 %.
"""

from __future__ import annotations

import math
import random
from collections import deque

from river import anomaly, base

from schemas.lead import Lead
from streams.fraud.placeholders import placeholder_name

Features = dict[str, float]


def fraud_features(
    lead: Lead, email_seen: int, phone_seen: int, ip_seen: int, lag_s: float
) -> Features:
    """How ordinary a lead looks, each feature in [0, 1] with 1 the usual value.

    The one-class SVM learns positive weights for what is usually present, so a
    lead is unusual when it lacks many ordinary traits at once (no name, no phone, a
    long or negative lag, no consent, no location, contacts seen before). A placeholder
    name counts as none (`streams.fraud.placeholders`).
    """
    # Cheap on purpose (~1 µs): the features cost more than the SVM's dot product.
    return {
        # A placeholder ("Test", "Mickey Mouse") is no name: the model sees it as missing.
        "has_name": 1.0 if lead.first_name and lead.last_name
        and not placeholder_name(lead.first_name, lead.last_name) else 0.0,
        "has_email": 1.0 if lead.email else 0.0,
        "has_phone": 1.0 if lead.phone else 0.0,
        "consent": 1.0 if lead.consent else 0.0,
        "located": 0.0 if lead.location_precision == "none" else 1.0,
        "lag_usual": 1.0 / (1.0 + abs(lag_s) / 600.0),
        "fresh": 1.0 / (1.0 + email_seen + phone_seen + ip_seen),
    }


class AnomalyScorer:
    """A River anomaly detector behind a calibrated, sampled-learning contract."""

    def __init__(
        self,
        detector: base.AnomalyDetector | None = None,
        *,
        seed: int = 42,
        learn_rate: float = 0.1,
        warmup: int = 500,
        reference: int = 1000,
        recalibrate_every: int = 250,
    ) -> None:
        self.detector = detector if detector is not None else anomaly.OneClassSVM(nu=0.02)
        self.seed = seed
        self.learn_rate = learn_rate
        self.warmup = warmup
        self.recalibrate_every = recalibrate_every
        self.n_learned = 0
        self._rng = random.Random(seed)
        # The detector keeps learning, so scores drift: the percentiles are re-taken now and
        # then over recent learning samples, scored by the detector as it is at that time.
        self._reference: deque[Features] = deque(maxlen=reference)
        self._low = self._high = math.inf
        # The SVM's decision value says "normal" when high; other detectors say "anomalous".
        self._flip = isinstance(self.detector, anomaly.OneClassSVM)

    @property
    def ready(self) -> bool:
        return self.n_learned >= self.warmup

    def _raw(self, x: Features) -> float:
        raw = self.detector.score_one(x)
        return -raw if self._flip else raw

    def score_one(self, x: Features) -> float:
        """Calibrated anomaly in [0, 1]; 0.0 while warming up."""
        if self.n_learned < self.warmup:
            return 0.0
        raw = self._raw(x)
        if not raw > self._low:  # NaN-safe
            return 0.0
        span = self._high - self._low
        return 1.0 if span <= 1e-12 else min(1.0, (raw - self._low) / span)

    def learn_one(self, x: Features) -> bool:
        """Learn from `x` when the seeded sample picks it; True when it did."""
        if self._rng.random() >= self.learn_rate:
            return False
        self.detector.learn_one(x)
        self._reference.append(x)
        self.n_learned += 1
        if self.n_learned >= self.warmup and self.n_learned % self.recalibrate_every == 0:
            self._recalibrate()
        return True

    def _recalibrate(self) -> None:
        raws = sorted(r for r in map(self._raw, self._reference) if math.isfinite(r))
        if raws:
            self._low = raws[int(0.99 * (len(raws) - 1))]
            self._high = raws[int(0.999 * (len(raws) - 1))]
