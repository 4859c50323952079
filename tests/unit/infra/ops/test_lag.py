"""The lag monitor's bookkeeping between polls, with Kafka's answers given (the real broker
is in tests/integration/test_lag.py): seconds, status, gauges, and the printed table."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from infra.ops.lag import GroupOffsets, LagMonitor, render_table


class GivenOffsets:
    bootstrap = "given"

    def __init__(self) -> None:
        self.ends: dict[tuple[str, int], int] = {}
        self.groups: dict[str, GroupOffsets] = {}

    def group_ids(self, prefix: str) -> list[str]:
        return [g for g in self.groups if g.startswith(prefix)]

    def read_groups(self, groups: list[str]) -> dict[str, GroupOffsets]:
        return {g: self.groups[g] for g in groups}

    def topic_partitions(self, topics: set[str]) -> set[tuple[str, int]]:
        return {tp for tp in self.ends if tp[0] in topics}

    def end_offsets(self, partitions: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {tp: self.ends[tp] for tp in partitions}


def _gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_stopped_group_ages_and_goes_err() -> None:
    kafka, clock = GivenOffsets(), [1000.0]
    monitor = LagMonitor(kafka, "u1.aiqleads", window=3, clock=lambda: clock[0])  # type: ignore[arg-type]
    members = GroupOffsets("STABLE", 1, {("u1.t", 0): 100}, {("u1.t", 0): "worker-1"})
    kafka.groups["u1.aiqleads"] = members
    kafka.ends = {("u1.t", 0): 100, ("u1.t", 1): 50}  # partition 1 never committed
    first = monitor.poll()
    assert first.groups[0].status == "OK"
    rows = {r.partition: r for r in first.groups[0].partitions}
    assert rows[0].consumer == "worker-1" and rows[1].committed is None and rows[1].lag == 0

    kafka.groups["u1.aiqleads"] = GroupOffsets("EMPTY", 0, {("u1.t", 0): 100})
    for _ in range(3):  # 10 messages a second arrive, nobody consumes
        clock[0] += 10
        kafka.ends[("u1.t", 0)] += 100
        snapshot = monitor.poll()
    group = snapshot.groups[0]
    assert group.status == "ERR" and group.lag == 300
    # Message 100 was written 0.1 s after the log end stood at 100, 30 s ago.
    assert group.lag_seconds == pytest.approx(29.9)
    labels = {"group": "u1.aiqleads", "topic": "u1.t", "partition": "0"}
    assert _gauge("aiq_consumer_lag_offsets", **labels) == 300
    assert _gauge("aiq_consumer_lag_seconds", **labels) == pytest.approx(29.9)
    assert _gauge("aiq_consumer_partition_status", **labels, status="STOP") == 1
    assert _gauge("aiq_consumer_group_status", group="u1.aiqleads", status="ERR") == 1

    table = render_table(snapshot)
    assert table.splitlines()[0].split() == [
        "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-SECONDS",
        "STATUS", "CONSUMER-ID"]
    assert "u1.aiqleads u1.t  0         100            400            300 29.9        STOP" in table

    # The topic goes away: its series go with it.
    kafka.groups["u1.aiqleads"] = GroupOffsets("EMPTY", 0, {})
    monitor.poll()
    assert _gauge("aiq_consumer_lag_offsets", **labels) is None


def test_a_failed_poll_keeps_the_last_view() -> None:
    kafka = GivenOffsets()
    kafka.groups["u2.aiqleads"] = GroupOffsets("STABLE", 1, {("u2.t", 0): 5})
    kafka.ends = {("u2.t", 0): 5}
    monitor = LagMonitor(kafka, "u2.aiqleads", publish=False)  # type: ignore[arg-type]
    good = monitor.poll()

    def broken(prefix: str) -> list[str]:
        raise RuntimeError("broker gone")

    kafka.group_ids = broken  # type: ignore[method-assign]
    failed = monitor.poll()
    assert failed.groups == good.groups
    assert failed.error is not None and "broker gone" in failed.error
