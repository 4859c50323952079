"""The scorer's health as warehouse rows: each arm over its lifetime, rolling window and hour.

`model_metrics_rows(scorer, now, worker)` turns one look at the scorer into
`schemas.model_metrics.ModelMetrics` rows (three per arm), the worker writes them to
`model_metrics` once a minute; `aiqleads model status` reads the same three spans.
"""

from __future__ import annotations

from datetime import datetime

from schemas.model_metrics import MetricsSpan, ModelMetrics
from streams.scoring.arms import METRICS_WINDOW, Scorer


def model_metrics_rows(scorer: Scorer, now: datetime, worker: str) -> list[ModelMetrics]:
    now_ms = int(now.timestamp() * 1000)
    recorded_at = now.replace(microsecond=0)
    rows = []
    for name, status in scorer.status(now_ms=now_ms)["arms"].items():
        learned = int(status["labels"])
        spans: dict[MetricsSpan, tuple[int, dict]] = {
            "lifetime": (learned, {**status["lifetime"],
                                   "raw_calibration_error": None}),
            "rolling": (min(learned, METRICS_WINDOW), {**status["metrics"],
                                                      "label_delay_s": None}),
            "hour": (int(status["hour"]["labels"]), status["hour"]),
        }
        for span, (labels, figures) in spans.items():
            rows.append(ModelMetrics(
                recorded_at=recorded_at, worker=worker, arm=name,
                model_version=status["version"], spec=status["spec"], span=span,
                labels=labels, roc_auc=figures.get("roc_auc"), log_loss=figures.get("log_loss"),
                calibration_error=figures.get("calibration_error"),
                raw_calibration_error=figures.get("raw_calibration_error"),
                label_delay_s=figures.get("label_delay_s"),
            ))
    return rows
