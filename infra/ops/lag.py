"""The lag monitor: polls Kafka for the groups the system owns, keeps the per-partition
history that lag in seconds and the Burrow-style status need (`infra.ops.lag_math`), and
publishes each poll as Prometheus gauges and a JSON-ready snapshot.

It runs off the request path: the API polls it on a timer in a thread (`api/ops_state.py`),
`aiqleads lag` polls it in the foreground. One poll reads, in the order Kafka's
`kafka-consumer-groups --describe` does, the groups' committed offsets and then the log end
offsets, so its offset figures are the tool's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from infra.metrics import (
    CONSUMER_GROUP_LAG_SECONDS,
    CONSUMER_GROUP_STATUS,
    CONSUMER_LAG_OFFSETS,
    CONSUMER_LAG_SECONDS,
    CONSUMER_PARTITION_STATUS,
    LAG_POLLS,
)
from infra.ops.lag_math import (
    CommitSample,
    EndOffsetHistory,
    GroupStatus,
    PartitionStatus,
    StatusWindow,
    group_status,
    lag_seconds,
)
from infra.settings import Settings

log = logging.getLogger(__name__)

Key = tuple[str, str, int]  # group, topic, partition


@dataclass(frozen=True)
class GroupOffsets:
    """What Kafka says about one group at one moment."""

    state: str
    members: int
    committed: dict[tuple[str, int], int]
    owners: dict[tuple[str, int], str] = field(default_factory=dict)  # partition → client id


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end_offset: int
    lag: int
    lag_seconds: float
    status: str
    consumer: str


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str
    members: int
    status: str
    lag: int
    lag_seconds: float
    partitions: list[PartitionLag]


@dataclass(frozen=True)
class LagSnapshot:
    at: float
    groups: list[GroupLag]
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class KafkaOffsets:
    """The Kafka side of a poll, through the admin API (no consumer joins any group)."""

    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self._admin: AdminClient | None = None

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap,
                                       "logger": logging.getLogger("librdkafka")})
        return self._admin

    def group_ids(self, prefix: str) -> list[str]:
        listed = self.admin.list_consumer_groups(request_timeout=self.timeout).result(
            timeout=self.timeout)
        return sorted(g.group_id for g in listed.valid if g.group_id.startswith(prefix))

    def read_groups(self, groups: list[str]) -> dict[str, GroupOffsets]:
        if not groups:
            return {}
        described = self.admin.describe_consumer_groups(groups, request_timeout=self.timeout)
        result: dict[str, GroupOffsets] = {}
        for group in groups:
            description = described[group].result(timeout=self.timeout)
            owners = {(tp.topic, tp.partition): member.client_id
                      for member in description.members
                      for tp in (member.assignment.topic_partitions if member.assignment else [])}
            # One group per request: librdkafka's offsets call takes exactly one group.
            offsets = self.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=self.timeout
            )[group].result(timeout=self.timeout)
            committed = {(tp.topic, tp.partition): tp.offset
                         for tp in offsets.topic_partitions if tp.offset >= 0}
            result[group] = GroupOffsets(state=str(description.state.name),
                                         members=len(description.members),
                                         committed=committed, owners=owners)
        return result

    def end_offsets(self, partitions: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        if not partitions:
            return {}
        request = {TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions}
        futures = self.admin.list_offsets(request, request_timeout=self.timeout)
        return {(tp.topic, tp.partition): future.result(timeout=self.timeout).offset
                for tp, future in futures.items()}

    def topic_partitions(self, topics: set[str]) -> set[tuple[str, int]]:
        """Every partition of these topics (a group may not have committed on all yet)."""
        metadata = self.admin.list_topics(timeout=self.timeout)
        return {(topic, p) for topic in topics if topic in metadata.topics
                for p in metadata.topics[topic].partitions}


class LagMonitor:
    """Poll → snapshot. Keeps history between polls; call `poll` every few seconds."""

    def __init__(self, offsets: KafkaOffsets, group_prefix: str, *, window: int = 10,
                 clock: Callable[[], float] = time.time, publish: bool = True) -> None:
        self.offsets = offsets
        self.group_prefix = group_prefix
        self.window = window
        self.clock = clock
        self.publish = publish
        self.histories: dict[tuple[str, int], EndOffsetHistory] = {}
        self.windows: dict[Key, StatusWindow] = {}
        self.last = LagSnapshot(at=0.0, groups=[], error="not polled yet")
        self._published: set[Key] = set()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: object) -> LagMonitor:
        return cls(KafkaOffsets(settings.kafka_bootstrap),
                   f"{settings.topic_prefix}{settings.app_id}", **kwargs)  # type: ignore[arg-type]

    def poll(self) -> LagSnapshot:
        try:
            snapshot = self._poll()
        except Exception as exc:  # KafkaException, or a future's timeout: keep the last view
            LAG_POLLS.labels("error").inc()
            log.warning("lag poll failed: %s", exc)
            snapshot = LagSnapshot(at=self.clock(), groups=self.last.groups,
                                   error=f"Kafka at {self.offsets.bootstrap}: {exc}")
        else:
            LAG_POLLS.labels("ok").inc()
        self.last = snapshot
        return snapshot

    def _poll(self) -> LagSnapshot:
        groups = self.offsets.read_groups(self.offsets.group_ids(self.group_prefix))
        # As the tool does: every committed partition and every assigned one (a member may
        # hold partitions it never commits, such as Faust's changelogs).
        topics = {topic for g in groups.values() for topic, _ in g.committed}
        partitions = self.offsets.topic_partitions(topics) | {
            tp for g in groups.values() for tp in (*g.committed, *g.owners)}
        ends = self.offsets.end_offsets(partitions)
        now = self.clock()
        for tp, end in ends.items():
            self.histories.setdefault(tp, EndOffsetHistory()).add(now, end)
        result = [self._group(name, g, ends, now) for name, g in groups.items()]
        if self.publish:
            self._publish(result)
        return LagSnapshot(at=now, groups=result)

    def _group(self, name: str, group: GroupOffsets, ends: dict[tuple[str, int], int],
               now: float) -> GroupLag:
        topics = {topic for topic, _ in group.committed}
        rows: list[PartitionLag] = []
        for tp in sorted(tp for tp in ends if tp[0] in topics or tp in group.owners):
            end = ends[tp]
            committed = group.committed.get(tp)
            lag = max(0, end - committed) if committed is not None else 0
            seconds = lag_seconds(self.histories[tp], committed, end, now)
            window = self.windows.setdefault((name, *tp), StatusWindow(size=self.window))
            if committed is not None:
                window.add(CommitSample(at=now, committed=committed, lag=lag))
            status = window.status(group_has_members=group.members > 0)
            rows.append(PartitionLag(topic=tp[0], partition=tp[1], committed=committed,
                                     end_offset=end, lag=lag, lag_seconds=round(seconds, 3),
                                     status=status.value,
                                     consumer=group.owners.get(tp, "-")))
        status = group_status(PartitionStatus(r.status) for r in rows)
        return GroupLag(group=name, state=group.state, members=group.members,
                        status=status.value, lag=sum(r.lag for r in rows),
                        lag_seconds=max((r.lag_seconds for r in rows), default=0.0),
                        partitions=rows)

    def _publish(self, groups: list[GroupLag]) -> None:
        seen: set[Key] = set()
        for g in groups:
            CONSUMER_GROUP_LAG_SECONDS.labels(g.group).set(g.lag_seconds)
            for status in GroupStatus:
                CONSUMER_GROUP_STATUS.labels(g.group, status.value).set(
                    1 if status.value == g.status else 0)
            for r in g.partitions:
                key = (g.group, r.topic, r.partition)
                seen.add(key)
                labels = (g.group, r.topic, str(r.partition))
                CONSUMER_LAG_OFFSETS.labels(*labels).set(r.lag)
                CONSUMER_LAG_SECONDS.labels(*labels).set(r.lag_seconds)
                for status in PartitionStatus:
                    CONSUMER_PARTITION_STATUS.labels(*labels, status.value).set(
                        1 if status.value == r.status else 0)
        for group, topic, partition in self._published - seen:
            labels = (group, topic, str(partition))
            for gauge in (CONSUMER_LAG_OFFSETS, CONSUMER_LAG_SECONDS):
                gauge.remove(*labels)
            for status in PartitionStatus:
                CONSUMER_PARTITION_STATUS.remove(*labels, status.value)
        self._published = seen


def render_table(snapshot: LagSnapshot) -> str:
    """The snapshot in the columns of `kafka-consumer-groups --describe`, plus seconds
    and status."""
    header = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
              "LAG-SECONDS", "STATUS", "CONSUMER-ID")
    lines: list[tuple[str, ...]] = [header]
    for g in snapshot.groups:
        for r in g.partitions:
            lines.append((g.group, r.topic, str(r.partition),
                          "-" if r.committed is None else str(r.committed), str(r.end_offset),
                          "-" if r.committed is None else str(r.lag), f"{r.lag_seconds:.1f}",
                          r.status, r.consumer))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = [" ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
           for line in lines]
    for g in snapshot.groups:
        out.append(f"\nGroup {g.group}: {g.status} (state {g.state}, {g.members} members, "
                   f"lag {g.lag} messages, {g.lag_seconds:.1f} s)")
    if snapshot.error:
        out.append(f"\nerror: {snapshot.error}")
    return "\n".join(out)
