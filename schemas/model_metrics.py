"""A row of `model_metrics`: one arm's online figures over one span of labels, once a minute.

The worker writes one row per arm and span (`lifetime`: since the arm was made;
`rolling`: its last 10,000 labels; `hour`: labels learned in the last hour of processing
time) every minute, so ops can chart them and an AUC drop has history. Figures are of the
served, calibrated probability, each predicted when its label arrived; None while a span
has no labels of both kinds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

MetricsSpan = Literal["lifetime", "rolling", "hour"]


class ModelMetrics(msgspec.Struct, kw_only=True, frozen=True):
    recorded_at: datetime  # UTC, whole seconds in the warehouse
    worker: str  # host:port of the worker whose scorer this is (each learns its partitions)
    arm: str  # champion / challenger
    model_version: str  # name-spec hash-labels, as on scored leads
    spec: str
    span: MetricsSpan  # which labels the figures are over
    labels: int
    roc_auc: float | None = None
    log_loss: float | None = None
    calibration_error: float | None = None  # after the calibrator (what buyers see)
    raw_calibration_error: float | None = None  # the model's own probability
    label_delay_s: float | None = None  # mean time from scoring to the outcome
