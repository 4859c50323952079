"""Cumulative progressive validation per arm, computed exactly as River's `progressive_val_score`.

Contract:
- `ArmPredictions.of(model)` is what one arm said about a lead *when it arrived*: River's
  own calls on the arm's pipeline (`predict_proba_one`, and `predict_one` when a metric needs
  labels), plus the arm's calibrated probability.
- `Cumulative` holds, per arm, fresh River metrics (`metric_names`: ``ROCAUC``, ``LogLoss``,
  ``Accuracy`` by default, any `river.metrics` class by name) and updates them at label time
  with the arrival predictions, skipping a prediction that is None or ``{}``, as River does.
  With River's delay semantics in `streams.scoring.evaluate.replay` the figures equal
  `evaluate.progressive_val_score(data, model, metric, delay=N)` bit for bit.
- Beside them, per arm and also cumulative: the calibration error of the model's raw
  probability and of the calibrated one (`ece_raw`, `ece`), and the log loss of the
  calibrated one (`log_loss_cal`), so a table shows what the calibrator bought.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from river import base, metrics

from streams.scoring.arms import Arm
from streams.scoring.model import Features
from streams.scoring.online_metrics import CalibrationError

DEFAULT_METRICS = ("ROCAUC", "LogLoss", "Accuracy")
#: Column names for River's class names in tables and JSON.
SHORT_NAMES = {"ROCAUC": "auc", "LogLoss": "logloss", "Accuracy": "acc"}


def river_metric(name: str) -> metrics.base.Metric:
    """A fresh River metric by class name (``ROCAUC``, ``F1``, ``MCC``…)."""
    cls = getattr(metrics, name, None)
    if not (isinstance(cls, type) and issubclass(cls, metrics.base.Metric)):
        raise ValueError(f"unknown River metric {name!r}: use a class of river.metrics, "
                         "such as ROCAUC, LogLoss, Accuracy, F1, MCC")
    try:
        return cls()
    except TypeError as exc:
        raise ValueError(f"River metric {name!r} needs arguments: {exc}") from exc


class ArmPredictions(NamedTuple):
    proba: dict[Any, float]  # River's predict_proba_one ({} = no opinion yet)
    label: Any  # River's predict_one (None when not asked or no opinion)
    calibrated: float | None  # the arm's served probability for the lead

    @classmethod
    def of(cls, arm: Arm, x: Features, labels: bool) -> ArmPredictions:
        pipeline: base.Classifier = arm.model.pipeline
        proba = pipeline.predict_proba_one(x)
        label = pipeline.predict_one(x) if labels else None
        p = proba.get(True, 0.0) if proba else None
        return cls(proba, label, None if p is None else arm.calibrator.calibrate(p))

    @property
    def raw(self) -> float | None:
        return float(self.proba.get(True, 0.0)) if self.proba else None


def _value(metric: metrics.base.Metric) -> float | None:
    value = float(metric.get())
    return value if math.isfinite(value) else None


class Cumulative:
    """Per-arm cumulative metrics over arrival predictions."""

    def __init__(self, arm_names: Sequence[str], metric_names: Sequence[str] = DEFAULT_METRICS
                 ) -> None:
        self.metric_names = tuple(dict.fromkeys(metric_names))  # in order, once each
        self.river = {arm: {name: river_metric(name) for name in self.metric_names}
                      for arm in arm_names}
        self.needs_labels = any(m.requires_labels for arms in self.river.values()
                                for m in arms.values())
        self.ece_raw = {arm: CalibrationError() for arm in arm_names}
        self.ece = {arm: CalibrationError() for arm in arm_names}
        self.log_loss_cal = {arm: metrics.LogLoss() for arm in arm_names}

    def update(self, converted: bool, predictions: Mapping[str, ArmPredictions]) -> None:
        for arm, said in predictions.items():
            for metric in self.river[arm].values():
                y_pred = said.label if metric.requires_labels else said.proba
                if y_pred is not None and y_pred != {}:
                    metric.update(converted, y_pred)
            if said.raw is not None and said.calibrated is not None:
                self.ece_raw[arm].update(converted, said.raw)
                self.ece[arm].update(converted, said.calibrated)
                self.log_loss_cal[arm].update(converted, said.calibrated)

    def get(self) -> dict[str, dict[str, float | None]]:
        """Per arm: each River metric by class name, then ece_raw, ece, log_loss_cal."""
        return {
            arm: {
                **{name: _value(metric) for name, metric in river.items()},
                "ece_raw": _value(self.ece_raw[arm]),
                "ece": _value(self.ece[arm]),
                "log_loss_cal": _value(self.log_loss_cal[arm]),
            }
            for arm, river in self.river.items()
        }

    def reliability(self, arm: str) -> dict[str, list[tuple[float, float, int]]]:
        """The reliability curves of one arm: raw and calibrated (mean p, rate, labels)."""
        return {"raw": self.ece_raw[arm].bins(), "calibrated": self.ece[arm].bins()}
