"""Consumer-lag bookkeeping, pure: offsets and times in, lag and status out (no Kafka here).

Lag in seconds follows kafka-lag-exporter: keep a sampled history of each partition's log end
offset, (time, offset) pairs, and read off *when* the log end passed the group's committed
offset; the lag is now minus that time, the age of the oldest message the group has not
processed. Between samples the time is interpolated; before the oldest sample it is
extrapolated at the history's mean rate (and is never less than the history's age).

Status follows Burrow's evaluation rules over a sliding window of (time, committed, lag)
samples of each partition. Burrow reads every commit from `__consumer_offsets`; we poll the
committed offsets, so its "the consumer stopped committing" test becomes "the group has no
live member and the offset did not move since the last poll" (STOP), while offsets unmoved
over the whole window with a live member are a STALL. Partition statuses: OK, WARN, STOP,
STALL, REWIND; a group is ERR when any partition is STOP or STALL, WARN when any is WARN or
REWIND, else OK.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise


class PartitionStatus(StrEnum):
    OK = "OK"
    WARN = "WARN"
    STOP = "STOP"
    STALL = "STALL"
    REWIND = "REWIND"


class GroupStatus(StrEnum):
    OK = "OK"
    WARN = "WARN"
    ERR = "ERR"


#: The fewest window samples before STALL or WARN may be concluded (Burrow needs a full
#: window; we need at least a trend).
MIN_TREND_SAMPLES = 3


@dataclass
class EndOffsetHistory:
    """Sampled (time, log end offset) of one partition, oldest first, bounded."""

    capacity: int = 720
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, at: float, end_offset: int) -> None:
        if self.samples and end_offset < self.samples[-1][1]:
            self.samples.clear()  # the topic was recreated or truncated: old times mean nothing
        if self.samples and at <= self.samples[-1][0]:
            return
        # Keep only the first and last sample of a flat run: the first says when the log end
        # reached the offset, the last that it was still there.
        if len(self.samples) >= 2 and self.samples[-1][1] == self.samples[-2][1] == end_offset:
            self.samples[-1] = (at, end_offset)
            return
        self.samples.append((at, end_offset))
        while len(self.samples) > self.capacity:
            self.samples.popleft()

    def time_at(self, offset: int) -> float | None:
        """When the log end reached `offset` (interpolated); None without samples."""
        if not self.samples:
            return None
        offsets = [o for _, o in self.samples]
        if offset >= offsets[-1]:
            return self.samples[-1][0]
        index = bisect_left(offsets, offset)
        if index == 0:
            return self._before_history(offset)
        # bisect_left: o0 < offset <= o1, the first step of the log end past `offset`.
        (t0, o0), (t1, o1) = self.samples[index - 1], self.samples[index]
        return t0 + (t1 - t0) * (offset - o0) / (o1 - o0)

    def _before_history(self, offset: int) -> float:
        (t_first, o_first), (t_last, o_last) = self.samples[0], self.samples[-1]
        if offset >= o_first:
            return t_first
        if o_last > o_first and t_last > t_first:
            rate = (o_last - o_first) / (t_last - t_first)
            return t_first - (o_first - offset) / rate
        return t_first


def lag_seconds(history: EndOffsetHistory, committed: int | None, end_offset: int,
                now: float) -> float:
    """Seconds the group is behind on one partition: 0 when caught up.

    The oldest unprocessed message sits at offset `committed`; it was written when the log
    end passed `committed + 1`. (Reading the time at `committed` itself, as
    kafka-lag-exporter does, counts a quiet partition's idle time before its one new
    message as lag.)
    """
    if committed is None or committed >= end_offset:
        return 0.0
    reached = history.time_at(committed + 1)
    return 0.0 if reached is None else max(0.0, now - reached)


@dataclass(frozen=True)
class CommitSample:
    at: float
    committed: int
    lag: int


@dataclass
class StatusWindow:
    """The last `size` polled samples of one partition, for Burrow-style status."""

    size: int = 10
    samples: deque[CommitSample] = field(default_factory=deque)

    def add(self, sample: CommitSample) -> None:
        self.samples.append(sample)
        while len(self.samples) > self.size:
            self.samples.popleft()

    def status(self, *, group_has_members: bool) -> PartitionStatus:
        return partition_status(list(self.samples), group_has_members=group_has_members)


def partition_status(window: list[CommitSample], *,
                     group_has_members: bool) -> PartitionStatus:
    """Burrow's rules, in Burrow's order, over one partition's window (oldest first)."""
    if not window or window[-1].lag == 0:
        return PartitionStatus.OK  # caught up now: never an error
    offsets_still = all(s.committed == window[0].committed for s in window)
    # Nobody in the group can commit, so two polls without a move say it stopped (Burrow
    # waits for the commit gap to exceed the window's span; without commit times this is
    # as close as polling gets, and a group member never counts as stopped).
    recently_still = len(window) == 1 or window[-1].committed == window[-2].committed
    if not group_has_members and recently_still:
        return PartitionStatus.STOP
    if any(s.lag == 0 for s in window):
        return PartitionStatus.OK
    if any(b.committed < a.committed for a, b in pairwise(window)):
        return PartitionStatus.REWIND
    if len(window) < MIN_TREND_SAMPLES:
        return PartitionStatus.OK
    if offsets_still:
        return PartitionStatus.STALL
    if all(b.lag >= a.lag for a, b in pairwise(window)):
        return PartitionStatus.WARN
    return PartitionStatus.OK


def group_status(statuses: Iterable[PartitionStatus]) -> GroupStatus:
    """The worst of the partitions, as Burrow folds them."""
    seen = set(statuses)
    if seen & {PartitionStatus.STOP, PartitionStatus.STALL}:
        return GroupStatus.ERR
    if seen & {PartitionStatus.WARN, PartitionStatus.REWIND}:
        return GroupStatus.WARN
    return GroupStatus.OK
