"""E8: a 3-broker KRaft cluster (replication 3, min.insync.replicas 2, producers acks=all and
idempotent); the leader of the raw and scored partitions is SIGKILLed, one broker after
another, during a run. Every acknowledged lead lands exactly once; the worker follows the new
leaders by itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from infra.settings import Settings
from schemas.contract import LEADS_SCORED, SOURCES, raw_topic
from tests.e2e.conftest import ScenarioTable, size
from tests.e2e.counts import settle
from tests.e2e.stack import PrivateStack, private_settings
from tests.e2e.traffic import SteadyStream, all_sources
from tests.integration.harness import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.chaos,
              pytest.mark.timeout(2400)]

RATE = 200.0
BETWEEN = 10.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    stack = PrivateStack(private_settings(tmp_path_factory.mktemp("e2e-cluster"), brokers=3))
    stack.up()
    try:
        yield stack
    finally:
        stack.down()


def busiest_leader(settings: Settings) -> int:
    """The broker leading most partitions of the raw and scored topics."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topics = admin.list_topics(timeout=10).topics
    names = [settings.topic(raw_topic(s)) for s in SOURCES] + [settings.topic(LEADS_SCORED)]
    leaders = Counter(p.leader for name in names if name in topics
                      for p in topics[name].partitions.values() if p.leader >= 0)
    return leaders.most_common(1)[0][0]


def test_e8_partition_leaders_killed_one_after_another(
    cluster: PrivateStack, scenario_table: ScenarioTable, tmp_path: Path
) -> None:
    settings = cluster.run(tmp_path)
    events = all_sources(size(10_000, 30_000), seed=808)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start(timeout=180)
    stream = SteadyStream(settings, events, rate=RATE).start()
    killed: list[int] = []
    try:
        for _ in range(3):  # each broker once, whichever leads then
            stream.wait(BETWEEN)
            leader = busiest_leader(settings)
            node = "kafka" if leader == 1 else f"kafka-{leader}"
            cluster.stop(node, kill=True)
            killed.append(leader)
            stream.wait(BETWEEN)  # the run goes on with two brokers
            cluster.start(node)
        stream.join()
        assert not stream.failed, stream.failed[:3]
        result = settle(settings, stream.acknowledged)
        alive = worker.proc is not None and worker.proc.poll() is None
    finally:
        worker.stop()
        cluster.drop(settings)
    scenario_table.add(len(events), f"leaders SIGKILLed: brokers {killed}", result,
                       extra_ok=alive)
    assert result.exact, result.verdict() + "\n" + worker.log_tail()
    assert alive, worker.log_tail()
