"""E4: Redis down for 30 s, then back (empty: it keeps no data on disk).

The pipeline keeps landing in ClickHouse meanwhile; serving waits for Redis (backpressure,
not loss) and catches up after: every sellable lead scored since the outage began has its card.
(Judged by `scored_ms`: the first version compared with what had *landed* when Redis stopped,
and counted 29 leads scored and served before the outage, lost with that Redis, as missing.)
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from infra.redis_store import KeyLayout
from infra.settings import Settings
from infra.warehouse.query import run_query
from tests.e2e.conftest import ScenarioTable, size
from tests.e2e.counts import Produced, settle, tally
from tests.e2e.stack import PrivateStack
from tests.e2e.traffic import SteadyStream, all_sources
from tests.integration.harness import WorkerProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.chaos,
              pytest.mark.timeout(1200)]

RATE = 200.0
OUTAGE = 30.0
KEPT_LANDING = 0.5  # share of the events sent during the outage that must land meanwhile
SELLABLE = ("SELECT lead_id FROM leads FINAL WHERE h3_r7 != 0 AND NOT quarantined "
            "AND duplicate_of IS NULL")


def test_e4_redis_down_30s(
    private_stack: PrivateStack, run_settings: Settings, scenario_table: ScenarioTable,
    tmp_path: Path,
) -> None:
    events = all_sources(size(10_000, 20_000), seed=404)
    produced = Produced.of(events)
    worker = WorkerProcess(run_settings, tmp_path / "worker.log")
    worker.start(timeout=120)
    stream = SteadyStream(run_settings, events, rate=RATE).start()
    try:
        stream.wait(8)
        private_stack.stop("redis")
        # Leads scored before this were served into the Redis that just lost everything.
        stopped_ms = int(time.time() * 1000)
        landed_at_stop = tally(run_settings, produced).leads_final
        sent_at_stop = stream.sent
        time.sleep(OUTAGE)  # the outage itself
        landed_during = tally(run_settings, produced).leads_final - landed_at_stop
        sent_during = stream.sent - sent_at_stop
        private_stack.start("redis")
        stream.join()
        result = settle(run_settings, produced)
        # Cards for every sellable lead scored since the outage began (Redis lost the rest).
        keys = KeyLayout(run_settings.topic_prefix)
        client = redis.Redis.from_url(run_settings.redis_url)
        wanted = sorted(row[0] for row in run_query(
            run_settings, f"{SELLABLE} AND scored_ms > {stopped_ms}").rows)

        def carded() -> int:
            pipe = client.pipeline(transaction=False)
            for lead_id in wanted:
                pipe.exists(keys.card(lead_id))
            return sum(pipe.execute())

        caught_up = wait_until(lambda: carded() == len(wanted), timeout=180)
        cards = carded()
        alive = worker.proc is not None and worker.proc.poll() is None
    finally:
        worker.stop()
    # Keeps landing: most of what arrived during the outage is in the warehouse before Redis
    # is back (not only the batch that was in flight when it went).
    kept_landing = landed_during >= KEPT_LANDING * sent_during
    ok = kept_landing and caught_up and alive
    scenario_table.add(len(events), f"Redis down 30 s; landed {landed_during:,} of "
                       f"{sent_during:,} sent meanwhile", result, extra_ok=ok)
    assert result.exact, result.verdict() + "\n" + worker.log_tail()
    assert kept_landing, (f"{landed_during} leads landed in ClickHouse while Redis was down, "
                          f"of {sent_during} events sent meanwhile")
    assert caught_up, f"{cards} of {len(wanted)} cards after Redis came back"
    assert alive, worker.log_tail()
