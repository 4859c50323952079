"""How well a screen's final verdicts match known labels (benches and the fault suite)."""

from __future__ import annotations

from collections.abc import Iterable


def precision_recall(judged: Iterable[tuple[bool, bool]]) -> tuple[float, float]:
    """Precision and recall of (is fraud, quarantined) pairs; 1.0 where nothing was asked."""
    tp = fp = fn = 0
    for fraud, quarantined in judged:
        tp += fraud and quarantined
        fp += quarantined and not fraud
        fn += fraud and not quarantined
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)
