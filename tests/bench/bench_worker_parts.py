"""What parts of the worker cost the pipeline (`make bench BENCH_ARGS="-s -k worker_parts"`).

The saturation run of the pipeline bench (`infra.demo.bench`: one chdb worker, warmed,
generated traffic flat out until every consumer group committed it) with three workers in
alternating turns, so that the machine's noise falls on each alike:

- **as is**;
- **without metrics**: every prometheus_client call a no-op but the landed-rows counter the
  bench reads (`tests/bench/nometrics`);
- **free stage**: dedupe, fraud screen, features and scoring cost nothing, each lead a
  copy of one scored lead's outputs (`tests/bench/freestage`): what Kafka, Faust, the
  sinks and the machine's services allow with the per-lead logic and its state gone.

Prints, for each, drained leads/s, the CPU a lead costs the workers and the machine, and
the ceiling that cost allows on this machine's cores.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest

from infra.demo import bench
from infra.settings import Settings

pytestmark = [pytest.mark.bench, pytest.mark.integration]

EVENTS = int(os.environ.get("AIQ_BENCH_PARTS_EVENTS", "60000"))
TURNS = int(os.environ.get("AIQ_BENCH_PARTS_TURNS", "2"))
SERVER_URL = os.environ.get("AIQ_TEST_CLICKHOUSE_URL",
                            "clickhouse://default:@127.0.0.1:9000/aiqleads")
HERE = Path(__file__).parent
STAGE_CHANGELOGS = ("first_lead_by_contact-changelog", "behaviour_by_contact-changelog",
                    "density_by_cell-changelog", "market_by_cell-changelog",
                    "penetration_by_cell-changelog")
VARIANTS = {"as is": None, "without metrics": HERE / "nometrics",
            "free stage": HERE / "freestage"}


@pytest.mark.timeout(3600)
def test_worker_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = Settings()
    base_path = os.environ.get("PYTHONPATH", "")
    events = bench.traffic(EVENTS, seed=101)
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    # A broker's first minute of load runs partly in the JVM's compiler (`bench.run`).
    runs = bench.Runs(base, bench.BenchConfig(server_url=SERVER_URL), tmp_path)
    try:
        with runs.cluster("chdb", 1) as cluster:
            bench.warm(cluster, bench.BROKER_WARM_EVENTS, seed=998)
        for turn in range(TURNS):
            for name, folder in VARIANTS.items():
                # Workers inherit the environment: the variant's sitecustomize loads first.
                monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
                    str(p) for p in (folder, base_path) if p))
                with runs.cluster("chdb", 1) as cluster:
                    run = bench.saturate(cluster, events, seconds=60)
                results[name].append(run)
                print(f"\nturn {turn} {name}: drained {run['drained_leads_per_s']:.0f} "
                      f"leads/s, {run['cpu_us_per_lead']}", flush=True)
    finally:
        runs.close()
    print(f"\n\nOne chdb worker, {EVENTS:,} events flat out, {TURNS} alternating turns "
          "(medians; each turn in brackets)")
    print(f"{'worker':<16} {'drained/s':>22} {'workers µs a lead':>24} "
          f"{'machine µs a lead':>24} {'ceiling/s':>22}")

    def column(values: list[float]) -> str:
        return (f"{statistics.median(values):,.0f} ("
                + " / ".join(f"{v:,.0f}" for v in values) + ")")

    for name, done in results.items():
        print(f"{name:<16} {column([r['drained_leads_per_s'] for r in done]):>22} "
              f"{column([r['cpu_us_per_lead']['workers'] for r in done]):>24} "
              f"{column([r['cpu_us_per_lead']['machine'] for r in done]):>24} "
              f"{column([r['ceiling_leads_per_s'] for r in done]):>22}")
    for name, done in results.items():
        assert all(r["drained_leads_per_s"] > 0 for r in done), name
    # The free stage replaced the stage: (nearly) no dedupe or feature state written. (The
    # learning join still keeps each scored lead's snapshot: an output, not the stage's.)
    for done in results["free stage"]:
        stage_state = {topic: n for topic, n in done["records_per_lead"].items()
                       if topic.endswith(STAGE_CHANGELOGS)}
        assert all(n < 0.01 for n in stage_state.values()), stage_state
    for done in results["as is"]:
        assert done["records_per_lead"].get(f"aiqleads-{STAGE_CHANGELOGS[0]}", 0) > 0.5
