"""The lag monitor on the real broker: its offsets agree with Kafka's own
`kafka-consumer-groups --describe` at the same moment, and a stopped group goes STOP/ERR with
its lag in seconds rising, then OK once it catches up."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from infra.cli import main
from infra.ops.lag import KafkaOffsets, LagMonitor
from infra.settings import Settings
from infra.stack.jars import ensure_kafka_jars

pytestmark = pytest.mark.integration

PARTITIONS = 3
CONSUMER_GROUPS_TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


@pytest.fixture
def topic() -> Iterator[tuple[str, str]]:
    """A fresh topic and the name of a group on it, deleted afterwards."""
    run = uuid.uuid4().hex[:10]
    name, group = f"t{run}.lagtest", f"t{run}.aiqleads"
    admin = AdminClient({"bootstrap.servers": Settings().kafka_bootstrap})
    admin.create_topics([NewTopic(name, PARTITIONS, 1)])[name].result(timeout=30)
    yield name, group
    admin.delete_consumer_groups([group])[group].exception(timeout=30)
    admin.delete_topics([name])[name].exception(timeout=30)


def _produce(topic: str, per_partition: list[int]) -> None:
    producer = Producer({"bootstrap.servers": Settings().kafka_bootstrap, "linger.ms": 5})
    for partition, count in enumerate(per_partition):
        for i in range(count):
            producer.produce(topic, f"m{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def _commit(group: str, offsets: dict[tuple[str, int], int]) -> Consumer:
    """A client of `group` (not a member) that committed these offsets."""
    consumer = Consumer({"bootstrap.servers": Settings().kafka_bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
    consumer.commit(offsets=partitions, asynchronous=False)
    return consumer


def _member(group: str, topic: str) -> Consumer:
    """A live member of `group` holding every partition of `topic`."""
    consumer = Consumer({"bootstrap.servers": Settings().kafka_bootstrap, "group.id": group,
                         "enable.auto.commit": False, "client.id": "lagtest-member"})
    consumer.subscribe([topic])
    deadline = time.monotonic() + 60
    while len(consumer.assignment()) < PARTITIONS and time.monotonic() < deadline:
        consumer.poll(0.2)
    assert len(consumer.assignment()) == PARTITIONS
    return consumer


def _tool_describe(group: str) -> dict[tuple[str, int], tuple[str, str, str, str]]:
    """(current offset, log end offset, lag, client id) per partition, as Kafka's tool
    prints them ("-" where it has none)."""
    java = shutil.which("java")
    assert java, "Java 17 is needed for the Kafka tools (make deps)"
    libs = ensure_kafka_jars()
    result = subprocess.run(
        [java, "-cp", f"{libs}/*", CONSUMER_GROUPS_TOOL, "--bootstrap-server",
         Settings().kafka_bootstrap, "--describe", "--group", group],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows: dict[tuple[str, int], tuple[str, str, str, str]] = {}
    for line in result.stdout.splitlines():
        cells = line.split()
        if len(cells) >= 6 and cells[0] == group:
            rows[(cells[1], int(cells[2]))] = (cells[3], cells[4], cells[5], cells[-1])
    return rows


def test_offsets_agree_with_kafka_consumer_groups(topic: tuple[str, str]) -> None:
    name, group = topic
    _produce(name, [120, 75, 40])
    member = _member(group, name)
    try:
        # Partition 2 is held but never committed: the tool shows "-", so must we.
        member.commit(offsets=[TopicPartition(name, 0, 100), TopicPartition(name, 1, 75)],
                      asynchronous=False)
        monitor = LagMonitor(KafkaOffsets(Settings().kafka_bootstrap), group, publish=False)
        # Nothing produces or commits now, so the two reads see the same moment.
        snapshot = monitor.poll()
        tool = _tool_describe(group)
        printed = CliRunner().invoke(main, ["lag", "--group", group, "--samples", "1"])
    finally:
        member.close()
    assert printed.exit_code == 0, printed.output
    cli = {(c[1], int(c[2])): (c[3], c[4], c[5], c[8]) for c in map(str.split,
           printed.output.splitlines()) if len(c) == 9 and c[0] == group}
    assert cli == tool
    assert snapshot.error is None
    [ours] = snapshot.groups
    mine = {(r.topic, r.partition): ("-" if r.committed is None else str(r.committed),
                                     str(r.end_offset),
                                     "-" if r.committed is None else str(r.lag), r.consumer)
            for r in ours.partitions}
    member_id = "lagtest-member"
    assert tool == {(name, 0): ("100", "120", "20", member_id),
                    (name, 1): ("75", "75", "0", member_id),
                    (name, 2): ("-", "40", "-", member_id)}
    assert mine == tool
    assert ours.members == 1 and ours.lag == 20


def test_a_stopped_group_goes_stop_then_ok_when_caught_up(topic: tuple[str, str]) -> None:
    name, group = topic
    _produce(name, [10, 10, 10])
    _commit(group, {(name, p): 10 for p in range(PARTITIONS)}).close()  # caught up, then gone
    monitor = LagMonitor(KafkaOffsets(Settings().kafka_bootstrap), group, window=3,
                         publish=False)
    assert monitor.poll().groups[0].status == "OK"

    stop = threading.Event()

    def traffic() -> None:  # the sources keep sending while nobody consumes
        while not stop.is_set():
            _produce(name, [5, 5, 5])
            time.sleep(0.2)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        seen = []
        for _ in range(8):
            time.sleep(0.5)
            seen.append(monitor.poll().groups[0])
    finally:
        stop.set()
        sender.join(timeout=10)
    last = seen[-1]
    assert last.status == "ERR"
    assert {r.status for r in last.partitions} == {"STOP"}
    assert last.lag > 0
    # Seconds behind rise with the wall clock while nobody consumes.
    assert seen[-1].lag_seconds > seen[1].lag_seconds + 1.5
    assert last.lag_seconds >= 3.0

    ends = {(r.topic, r.partition): r.end_offset for r in monitor.poll().groups[0].partitions}
    _commit(group, ends).close()
    caught_up = monitor.poll().groups[0]
    assert caught_up.status == "OK"
    assert caught_up.lag == 0 and caught_up.lag_seconds == 0.0
