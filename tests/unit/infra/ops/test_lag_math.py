"""Lag in seconds (kafka-lag-exporter's interpolation) and Burrow-style status rules."""

from __future__ import annotations

import pytest

from infra.ops.lag_math import (
    CommitSample,
    EndOffsetHistory,
    GroupStatus,
    PartitionStatus,
    group_status,
    lag_seconds,
    partition_status,
)


def history(*samples: tuple[float, int]) -> EndOffsetHistory:
    h = EndOffsetHistory()
    for at, offset in samples:
        h.add(at, offset)
    return h


def test_interpolates_between_samples() -> None:
    h = history((100.0, 0), (110.0, 1000))
    assert h.time_at(500) == pytest.approx(105.0)
    # Message 500 was written when the log end passed 501.
    assert lag_seconds(h, committed=500, end_offset=1000, now=110.0) == pytest.approx(4.99)


def test_caught_up_is_zero_and_no_commit_is_zero() -> None:
    h = history((100.0, 0), (110.0, 1000))
    assert lag_seconds(h, committed=1000, end_offset=1000, now=500.0) == 0.0
    assert lag_seconds(h, committed=None, end_offset=1000, now=500.0) == 0.0


def test_a_stopped_consumer_ages_while_the_log_stands_still() -> None:
    # Traffic stopped at offset 1000 at t=110; the consumer stopped at 400 at t=106.
    h = history((100.0, 0), (110.0, 1000), (130.0, 1000), (160.0, 1000))
    assert lag_seconds(h, committed=400, end_offset=1000, now=160.0) == pytest.approx(55.99)
    # The flat run keeps its first and last sample only.
    assert [o for _, o in h.samples] == [0, 1000, 1000]
    assert h.samples[1][0] == 110.0


def test_before_history_extrapolates_at_the_mean_rate() -> None:
    h = history((100.0, 1000), (110.0, 2000))  # 100 msgs/s
    assert h.time_at(500) == pytest.approx(95.0)
    assert lag_seconds(h, committed=500, end_offset=2000, now=110.0) == pytest.approx(14.99)
    # A flat history cannot say when: the oldest sample's age is the lower bound.
    flat = history((100.0, 1000), (110.0, 1000))
    assert flat.time_at(10) == 100.0


def test_a_quiet_partition_counts_from_its_new_message() -> None:
    # Offset 7 stood for a minute; message 7 arrived between the last two samples.
    h = history((0.0, 7), (60.0, 7), (62.0, 8))
    assert lag_seconds(h, committed=7, end_offset=8, now=62.0) == pytest.approx(0.0)
    assert lag_seconds(h, committed=7, end_offset=8, now=65.0) == pytest.approx(3.0)


def test_history_resets_when_the_log_end_goes_back() -> None:
    h = history((100.0, 0), (110.0, 1000), (120.0, 5))
    assert list(h.samples) == [(120.0, 5)]


def test_history_is_bounded() -> None:
    h = EndOffsetHistory(capacity=3)
    for i in range(10):
        h.add(float(i), i * 10)
    assert [o for _, o in h.samples] == [70, 80, 90]


def window(*points: tuple[int, int]) -> list[CommitSample]:
    return [CommitSample(at=float(i), committed=c, lag=lag) for i, (c, lag) in enumerate(points)]


@pytest.mark.parametrize(
    ("points", "members", "expected"),
    [
        ([(10, 0), (20, 0), (30, 0)], True, PartitionStatus.OK),
        ([(10, 5), (20, 0), (30, 4)], True, PartitionStatus.OK),  # zero lag in the window
        ([(10, 5), (20, 4), (30, 3)], True, PartitionStatus.OK),  # catching up
        ([(10, 5), (20, 6), (30, 8)], True, PartitionStatus.WARN),  # moving, falling behind
        ([(10, 5), (10, 6), (10, 9)], True, PartitionStatus.STALL),  # member, not moving
        ([(10, 5), (10, 6), (10, 9)], False, PartitionStatus.STOP),  # nobody consuming
        ([(10, 5)], False, PartitionStatus.STOP),
        ([(10, 5), (20, 6), (20, 9)], False, PartitionStatus.STOP),  # emptied, then unmoved
        ([(10, 0), (20, 6), (20, 9)], False, PartitionStatus.STOP),  # caught up is history
        ([(30, 5), (20, 15), (25, 10)], True, PartitionStatus.REWIND),
        ([(10, 5), (10, 6)], True, PartitionStatus.OK),  # too short for a trend
        ([(10, 5), (20, 6), (30, 7)], False, PartitionStatus.WARN),  # moving: not stopped
    ],
)
def test_partition_status(points: list[tuple[int, int]], members: bool,
                          expected: PartitionStatus) -> None:
    assert partition_status(window(*points), group_has_members=members) is expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([PartitionStatus.OK, PartitionStatus.OK], GroupStatus.OK),
        ([PartitionStatus.OK, PartitionStatus.REWIND], GroupStatus.WARN),
        ([PartitionStatus.WARN, PartitionStatus.STALL], GroupStatus.ERR),
        ([PartitionStatus.STOP], GroupStatus.ERR),
        ([], GroupStatus.OK),
    ],
)
def test_group_status(statuses: list[PartitionStatus], expected: GroupStatus) -> None:
    assert group_status(statuses) is expected
