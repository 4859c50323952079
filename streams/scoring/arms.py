"""Champion and challenger: which model serves a lead, how each is judged, and promotion.

Contract:
- `Scorer.arm_for(lead_id)` is a deterministic hash split: the same lead id gets the same
  arm on every worker and after every restart; about `challenger_share` of ids go to the
  challenger (none when there is no challenger).
- `score_one(lead_id, x)` → `Scored(score, arm, model_version, reasons)`: only the serving
  arm predicts, with one transform of `x` for both the score and its reason codes.
- `learn_one(x, converted)` is progressive validation per arm: *both* arms first predict
  the labelled snapshot (updating their own metrics and feature importances), then both
  learn it. Both are judged on the same labels, so their metrics compare pair-wise. With
  immediate labels this is exactly River's `evaluate.progressive_val_score`; with delayed
  labels each arm predicts at label time, knowing what it learned meanwhile (a little
  kinder than the score served at arrival, equally for both arms).
- Every arm carries an online calibrator (`streams.scoring.calibrate.PlattCalibrator`): the
  served score is the calibrated probability (ranking and pricing use it as an expected
  value); the calibrator learns the model's own prediction of each labelled snapshot.
- Metrics per arm, all of the *served* (calibrated) probability, each predicted when its
  label arrives: `metrics` are **rolling** over the last `METRICS_WINDOW` labels
  (`roc_auc` exact, River's `RollingROCAUC`; `log_loss`; `calibration_error`, binned ECE;
  `raw_calibration_error`, the same before the calibrator); `lifetime` are **cumulative**
  since the arm was made (`BinnedROCAUC`, `LogLoss`, ECE). `METRIC_KINDS` says so wherever
  they are shown. (`aiqleads evaluate` adds River's own cumulative metrics per arm.)
- `promote()` swaps the arms: the challenger serves, the old champion keeps learning as
  the challenger, so `rollback()` swaps back to it with everything it learned since.
  `maybe_promote(min_labels, margin)` promotes when, after at least `min_labels` labels
  since the last change, the challenger's `roc_auc` beats the champion's by `margin`.
- `reconcile(...)` (on start, from settings): an arm whose configured spec changed is
  rebuilt cold; everything else, promotions included, is kept.
- The Scorer pickles cleanly; its only randomness is its models' seeds.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from river import metrics, stats, utils

from streams.checkpoint import Pickled
from streams.errors import AIQLeadsError
from streams.scoring.calibrate import PlattCalibrator
from streams.scoring.explain import Importance
from streams.scoring.model import ConversionModel, Features
from streams.scoring.online_metrics import BinnedROCAUC, CalibrationError, HourWindow

CHAMPION = "champion"
CHALLENGER = "challenger"
METRICS_WINDOW = 10_000
PROMOTION_METRIC = "roc_auc"
IMPORTANCE_HALF_LIFE = 2_000.0  # labels
HISTORY_KEPT = 20
_SPLIT_PERSON = b"aiq-arm-split"  # keeps the split independent of Kafka's key partitioning
_HASH_SPACE = 1 << 64


class ScorerError(AIQLeadsError):
    """A model change that cannot be made (the operator gets the sentence)."""


class NoChallenger(ScorerError):
    pass


class NothingToRollBack(ScorerError):
    pass


def default_metrics(window: int = METRICS_WINDOW) -> dict[str, metrics.base.Metric]:
    """The per-arm online metrics, all over the last `window` labels."""
    return {
        "roc_auc": metrics.RollingROCAUC(window_size=window),
        "log_loss": utils.Rolling(metrics.LogLoss, window_size=window),
        "calibration_error": utils.Rolling(CalibrationError, window_size=window),
    }


def _rolling_raw_calibration() -> Any:
    return utils.Rolling(CalibrationError, window_size=METRICS_WINDOW)


def lifetime_metrics() -> dict[str, metrics.base.Metric]:
    """The per-arm cumulative metrics, fixed in size however long an arm lives."""
    return {
        "roc_auc": BinnedROCAUC(),
        "log_loss": metrics.LogLoss(),
        "calibration_error": CalibrationError(),
    }


#: What each family of per-arm figures is, for status documents and tables.
METRIC_KINDS = {
    "metrics": f"rolling: the last {METRICS_WINDOW:,} labels, calibrated score predicted "
               "when the label arrived (exact ROC AUC)",
    "lifetime": "cumulative: every label since the arm was made, calibrated score predicted "
                "when the label arrived (ROC AUC binned to 0.01 log-odds)",
    "hour": "the labels learned in the last hour of processing time, same figures",
}


class Scored(NamedTuple):
    score: float
    arm: str
    model_version: str
    reasons: list[str]


def _value(metric: Any) -> float | None:
    value = float(metric.get())
    return value if math.isfinite(value) else None


@dataclass
class Arm:
    """One model with its own progressive metrics and feature importances."""

    model: ConversionModel
    metrics: dict[str, Any]
    importance: Importance = field(default_factory=lambda: Importance(IMPORTANCE_HALF_LIFE))
    calibrator: PlattCalibrator = field(default_factory=PlattCalibrator)
    lifetime: dict[str, Any] = field(default_factory=lifetime_metrics)
    raw_calibration: Any = field(default_factory=_rolling_raw_calibration)
    hour: HourWindow = field(default_factory=HourWindow)
    label_delay: stats.Mean = field(default_factory=stats.Mean)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Arms checkpointed before calibration start with a fresh calibrator and lifetime.
        self.__dict__.update(state)
        for name, made in (("calibrator", PlattCalibrator), ("lifetime", lifetime_metrics),
                           ("raw_calibration", _rolling_raw_calibration),
                           ("hour", HourWindow), ("label_delay", stats.Mean)):
            if name not in state:
                setattr(self, name, made())

    def observe(self, x: Features, converted: bool, at_ms: int | None = None,
                delay_s: float | None = None) -> float | None:
        """Predict the labelled snapshot (metrics, importances, calibrator), then learn it.

        `at_ms` (when the label is learned) feeds the last-hour window, `delay_s` (scoring
        to outcome) the label-delay figures. Returns the calibrated prediction (None: the
        model had no opinion yet).
        """
        raw, contributions = self.model.contributions_one(x)
        p = None
        if raw is not None:  # as River's progressive validation: no opinion, no metric update
            p = self.calibrator.calibrate(raw)
            for metric in self.metrics.values():
                metric.update(converted, p)
            for metric in self.lifetime.values():
                metric.update(converted, p)
            self.raw_calibration.update(converted, raw)
            if at_ms is not None:
                self.hour.add(at_ms, converted, p, raw, delay_s)
            self.calibrator.learn_one(raw, converted)
        if delay_s is not None:
            self.label_delay.update(delay_s)
        if contributions:
            self.importance.update(contributions)
        self.model.learn_one(x, converted)
        return p

    def metric(self, name: str) -> float | None:
        metric = self.metrics.get(name)
        return None if metric is None else _value(metric)

    def status(self, top_features: int = 10, now_ms: int | None = None) -> dict[str, Any]:
        calibration = self.metrics.get("calibration_error")
        importance = self.importance.get()
        return {
            "model": self.model.name,
            "version": self.model.version,
            "spec": self.model.spec,
            "labels": self.model.n_learned,
            "explains": self.model.explainer is not None,
            "metrics": {**{name: _value(metric) for name, metric in self.metrics.items()},
                        "raw_calibration_error": _value(self.raw_calibration)},
            "lifetime": {**{name: _value(metric) for name, metric in self.lifetime.items()},
                         "label_delay_s": self.label_delay.get() if self.label_delay.n else None},
            "hour": self.hour.get(now_ms),
            "calibrator": self.calibrator.status(),
            "calibration": None if calibration is None else {
                "mean_predicted": calibration.mean_predicted,
                "positive_rate": calibration.positive_rate,
            },
            "importance": dict(list(importance.items())[:top_features]),
        }


class Scorer(Pickled):
    """Champion (and optional challenger) behind one `score_one` / `learn_one` contract."""

    def __init__(
        self,
        champion: ConversionModel | None = None,
        challenger: ConversionModel | None = None,
        *,
        challenger_share: float = 0.0,
        reason_codes: int = 3,
        metrics: Mapping[str, Any] | None = None,
    ) -> None:
        # Never updated: each new arm gets fresh deep copies.
        self._metric_prototypes = dict(metrics) if metrics is not None else default_metrics()
        champion = champion or ConversionModel(name="m1")
        self.champion = self._arm(champion)
        self.challenger = self._arm(challenger) if challenger is not None else None
        self.configured: tuple[str, str | None] = (
            champion.spec, challenger.spec if challenger is not None else None)
        self._models_made = 2 if challenger is not None else 1
        self.labels_since_change = 0
        self.history: list[dict[str, Any]] = []
        self._undo: list[tuple[str, str]] = []  # (promoted, demoted) model names
        self.challenger_share = 0.0
        self.reason_codes = reason_codes
        self._split_below = 0
        self.configure(challenger_share=challenger_share, reason_codes=reason_codes)

    @classmethod
    def from_specs(
        cls,
        champion_spec: str,
        challenger_spec: str | None = None,
        *,
        seed: int = 42,
        challenger_share: float = 0.0,
        reason_codes: int = 3,
        metrics: Mapping[str, Any] | None = None,
    ) -> Scorer:
        champion = ConversionModel(spec=champion_spec, seed=seed, name="m1")
        challenger = (ConversionModel(spec=challenger_spec, seed=seed, name="m2")
                      if challenger_spec else None)
        return cls(champion, challenger, challenger_share=challenger_share,
                   reason_codes=reason_codes, metrics=metrics)

    def _arm(self, model: ConversionModel) -> Arm:
        return Arm(model=model, metrics=copy.deepcopy(self._metric_prototypes))

    def _new_model(self, spec: str, seed: int) -> ConversionModel:
        self._models_made += 1
        return ConversionModel(spec=spec, seed=seed, name=f"m{self._models_made}")

    # --- configuration ------------------------------------------------------------------

    def configure(self, *, challenger_share: float, reason_codes: int) -> None:
        """Serving knobs that settings own (they win over a checkpoint)."""
        if not 0.0 <= challenger_share <= 1.0:
            raise ValueError("challenger_share must be within [0, 1]")
        self.challenger_share = challenger_share
        self.reason_codes = max(0, reason_codes)
        self._split_below = int(challenger_share * _HASH_SPACE)

    def reconcile(self, champion_spec: str, challenger_spec: str | None, seed: int) -> list[str]:
        """Rebuild (cold) the arms whose configured spec changed; say what changed."""
        challenger_spec = challenger_spec or None
        old_champion, old_challenger = self.configured
        changed = []
        if champion_spec != old_champion:
            self.champion = self._arm(self._new_model(champion_spec, seed))
            changed.append(f"champion {old_champion} → {champion_spec}")
        if challenger_spec != old_challenger:
            self.challenger = (self._arm(self._new_model(challenger_spec, seed))
                               if challenger_spec else None)
            changed.append(f"challenger {old_challenger} → {challenger_spec}")
        self.configured = (champion_spec, challenger_spec)
        if changed:
            self._undo.clear()  # a rebuilt arm is not the champion it replaced
            self._record("reconfigure", "settings")
        return changed

    # --- serving and learning -----------------------------------------------------------

    def arm_for(self, lead_id: str) -> str:
        """The arm that serves `lead_id`: a salted 64-bit hash below the share's cut."""
        if self.challenger is None or not self._split_below:
            return CHAMPION
        digest = hashlib.blake2b(lead_id.encode(), digest_size=8, person=_SPLIT_PERSON).digest()
        return CHALLENGER if int.from_bytes(digest, "big") < self._split_below else CHAMPION

    def score_one(self, lead_id: str, x: Features) -> Scored:
        arm = self.arm_for(lead_id)
        serving = self.challenger if arm == CHALLENGER and self.challenger else self.champion
        model = serving.model
        score, reasons = model.explain_one(x, self.reason_codes)
        return Scored(serving.calibrator.calibrate(score), arm, model.version, reasons)

    def learn_one(self, x: Features, converted: bool, *, at_ms: int | None = None,
                  delay_s: float | None = None) -> dict[str, float | None]:
        """Both arms judge, then learn, the labelled snapshot; each arm's calibrated p."""
        said = {CHAMPION: self.champion.observe(x, converted, at_ms, delay_s)}
        if self.challenger is not None:
            said[CHALLENGER] = self.challenger.observe(x, converted, at_ms, delay_s)
        self.labels_since_change += 1
        return said

    @property
    def arms(self) -> dict[str, Arm]:
        arms = {CHAMPION: self.champion}
        if self.challenger is not None:
            arms[CHALLENGER] = self.challenger
        return arms

    # --- promotion ----------------------------------------------------------------------

    def promote(self, trigger: str = "manual") -> None:
        """The challenger becomes champion; the old champion stays on as challenger."""
        if self.challenger is None:
            raise NoChallenger("there is no challenger to promote")
        self._undo.append((self.challenger.model.name, self.champion.model.name))
        self.champion, self.challenger = self.challenger, self.champion
        self._record("promote", trigger)

    @property
    def can_roll_back(self) -> bool:
        if not self._undo or self.challenger is None:
            return False
        promoted, demoted = self._undo[-1]
        return self.champion.model.name == promoted and self.challenger.model.name == demoted

    def rollback(self, trigger: str = "manual") -> None:
        """Undo the last promotion: the previous champion serves again."""
        if not self.can_roll_back:
            raise NothingToRollBack("no promotion to roll back")
        self._undo.pop()
        challenger = self.challenger
        assert challenger is not None  # can_roll_back checked it
        self.champion, self.challenger = challenger, self.champion
        self._record("rollback", trigger)

    def maybe_promote(self, min_labels: int, margin: float) -> bool:
        """Promote if the challenger's ROC AUC beats the champion's by `margin` (0 = never)."""
        if self.challenger is None or min_labels <= 0 or self.labels_since_change < min_labels:
            return False
        champion = self.champion.metric(PROMOTION_METRIC)
        challenger = self.challenger.metric(PROMOTION_METRIC)
        if champion is None or challenger is None or challenger < champion + margin:
            return False
        self.promote("auto")
        return True

    def _record(self, action: str, trigger: str) -> None:
        self.history.append({
            "action": action,
            "trigger": trigger,
            "after_labels": self.labels_since_change,
            "champion": self.champion.model.version,
            "challenger": self.challenger.model.version if self.challenger else None,
        })
        del self.history[:-HISTORY_KEPT]
        self.labels_since_change = 0

    # --- status and persistence ---------------------------------------------------------

    def status(self, now_ms: int | None = None) -> dict[str, Any]:
        """A JSON-able picture: arms, versions, labels, metrics, importances, history.

        `hour` figures are over the hour before `now_ms` (default: the last label learned).
        """
        return {
            "challenger_share": self.challenger_share if self.challenger else 0.0,
            "reason_codes": self.reason_codes,
            "labels_since_change": self.labels_since_change,
            "can_roll_back": self.can_roll_back,
            "arms": {name: arm.status(now_ms=now_ms) for name, arm in self.arms.items()},
            "metric_kinds": METRIC_KINDS,
            "history": list(self.history),
        }
