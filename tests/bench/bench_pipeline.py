"""Whole-pipeline benchmark (`make bench`): the table, JSON and PNG of `aiqleads bench pipeline`.

The engine is `infra.demo.bench` (also behind `aiqleads bench pipeline --seconds 30 --json
FILE`): a no-op Faust passthrough, then real `aiqleads worker` processes — 1 and 2 in one
consumer group on each warehouse backend (embedded chdb, the ClickHouse server) — fed
generated traffic flat out for up to `AIQ_BENCH_SECONDS` (60 by default) of landing, and
paced at half the 1-worker drained rate for the produce → scored / landed / Redis percentiles.
`AIQ_BENCH_JSON` names the JSON file (the PNG goes next to it); by default both go to
`.aiqleads/bench/pipeline.{json,png}`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from infra.demo import bench
from infra.settings import Settings

pytestmark = [pytest.mark.bench, pytest.mark.integration]

SECONDS = float(os.environ.get("AIQ_BENCH_SECONDS", "60"))
EVENTS = int(os.environ.get("AIQ_BENCH_EVENTS", "120000"))
SERVER_URL = os.environ.get("AIQ_TEST_CLICKHOUSE_URL",
                            "clickhouse://default:@127.0.0.1:9000/aiqleads")
JSON_PATH = Path(os.environ.get("AIQ_BENCH_JSON", ".aiqleads/bench/pipeline.json"))


def test_pipeline_throughput_and_latency(tmp_path: Path) -> None:
    config = bench.BenchConfig(seconds=SECONDS, events=EVENTS, server_url=SERVER_URL)
    result = bench.run(Settings(), config, tmp_path)
    print("\n\n" + bench.table(result))
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps({**bench.summary(result), "runs": result["runs"]}, indent=1))
    bench.plot(result, JSON_PATH.with_suffix(".png"))
    print(f"wrote {JSON_PATH} and {JSON_PATH.with_suffix('.png')}")
    assert all(r["leads_per_s"] > 0 for r in result["runs"])
