"""What the Prometheus metrics cost the pipeline: the saturation run of bench_pipeline with
the worker's metrics on, and with every metric call made a no-op (tests/bench/nometrics),
alternating turns so that machine noise falls on both. Prints events/s of each turn."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest

from tests.bench.bench_pipeline import _run, _settings

pytestmark = [pytest.mark.bench, pytest.mark.integration]

EVENTS = int(os.environ.get("AIQ_BENCH_METRICS_EVENTS", "10000"))
TURNS = int(os.environ.get("AIQ_BENCH_METRICS_TURNS", "2"))
NO_METRICS = Path(__file__).parent / "nometrics"


@pytest.mark.timeout(3600)
def test_metrics_cost_on_throughput(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results: dict[str, list[float]] = {"with metrics": [], "without metrics": []}
    base_path = os.environ.get("PYTHONPATH", "")
    for turn in range(TURNS):
        for name in results:
            if name == "without metrics":
                monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
                    p for p in (str(NO_METRICS), base_path) if p))
            else:
                monkeypatch.setenv("PYTHONPATH", base_path)
            label = "off" if name == "without metrics" else "on"
            run = _run(_settings(tmp_path, f"{label}{turn}"), tmp_path, EVENTS, 0,
                       seed=300 + turn)
            results[name].append(run["events_per_s"])
            print(f"\nturn {turn} {name}: {run['events_per_s']:.0f} events/s", flush=True)
    print(f"\n\nMetrics cost, saturation, {EVENTS} events, {TURNS} alternating turns")
    for name, values in results.items():
        print(f"{name:<18} median {statistics.median(values):>7.0f} events/s   "
              f"turns {', '.join(f'{v:.0f}' for v in values)}")
    with_m = statistics.median(results["with metrics"])
    without = statistics.median(results["without metrics"])
    print(f"cost: {100 * (without - with_m) / without:+.1f}% of throughput")
    assert with_m > 0 and without > 0
