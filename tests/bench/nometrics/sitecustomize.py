"""Loaded by a worker started with this folder on PYTHONPATH (bench_metrics_cost.py only):
every prometheus_client metric call becomes a no-op, so the same worker runs without
the cost of its metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import metrics


def _nothing(self: Any, *args: Any, **kwargs: Any) -> None:
    return None


def _same(self: Any, *args: Any, **kwargs: Any) -> Any:
    return self


for cls in (metrics.Counter, metrics.Gauge, metrics.Histogram, metrics.Summary):
    for name in ("inc", "dec", "set", "observe"):
        if hasattr(cls, name):
            setattr(cls, name, _nothing)
metrics.MetricWrapperBase.labels = _same  # type: ignore[method-assign]
