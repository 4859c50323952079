"""Loaded by a worker started with this folder on PYTHONPATH (`bench_worker_parts.py` only):
every prometheus_client metric call becomes a no-op, so the same worker runs without the
cost of its metrics, but for the landed-rows counter the bench reads its rate from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import metrics

_KEPT = "aiq_rows_landed"


def _unless_kept(method: Callable[..., Any], instead: Callable[[Any], Any]) -> Callable[..., Any]:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._name == _KEPT:
            return method(self, *args, **kwargs)
        return instead(self)

    return call


for cls in (metrics.Counter, metrics.Gauge, metrics.Histogram, metrics.Summary):
    for name in ("inc", "dec", "set", "observe"):
        if name in vars(cls):
            setattr(cls, name, _unless_kept(getattr(cls, name), lambda self: None))
metrics.MetricWrapperBase.labels = _unless_kept(  # type: ignore[method-assign]
    metrics.MetricWrapperBase.labels, lambda self: self)
