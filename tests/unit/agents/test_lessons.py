"""Held lessons: acked only once a checkpoint holds them, and marked learned so a replay of
either half of the join cannot teach the lead again."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.lessons import (
    HeldLessons,
    acked_when_stored,
    forget_outlived,
    is_learned,
    learned_mark,
)
from streams.scoring.labels import KEEP_MS, UNKNOWN_AFTER_MS, Snapshot, stored

NOW = 1_800_000_000_000


class Message:
    def __init__(self) -> None:
        self.refcount = 1  # the stream's own reference, dropped at the end of its batch
        self.acks = 0

    def incref(self) -> None:
        self.refcount += 1

    def ack(self) -> bool:
        self.refcount -= 1
        self.acks += 1
        return self.refcount == 0


class Event:
    def __init__(self) -> None:
        self.message = Message()

    def ack(self) -> bool:
        return self.message.ack()

    @property
    def committable(self) -> bool:
        return self.message.refcount == 0


class Table(dict[str, Any]):
    """Changelogged's interface, recording the partition of every write."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.writes: list[tuple[str, Any, int]] = []

    def set(self, key: str, value: Any, partition: int = -1) -> None:
        self[key] = value
        self.writes.append((key, value, partition))

    def delete(self, key: str, partition: int = -1) -> None:
        del self[key]
        self.writes.append((key, None, partition))

    def forget(self, key: str) -> None:
        self.pop(key, None)


def test_a_held_event_stays_unacked_past_its_batch_until_the_release() -> None:
    snapshots = Table({"a": {"features": {"x": 1.0}}, "b": {"features": {"x": 2.0}}})
    waiting = Table({"a": "{}", "c": "{}"})
    lessons = HeldLessons(snapshots, waiting)
    outcome, snapshot = Event(), Event()
    lessons.hold(outcome, "a", 3)
    lessons.hold(snapshot, "a", 3)
    outcome.ack(), snapshot.ack()  # what take_events does at the end of the batch
    assert "a" in lessons and not outcome.committable and not snapshot.committable

    released = lessons.release(NOW)
    assert released == [outcome, snapshot] and "a" not in lessons and len(lessons) == 0
    # Marked in the snapshot's partition, its waiting outcome dropped; others untouched.
    mark = learned_mark(NOW)
    assert snapshots == {"a": mark, "b": {"features": {"x": 2.0}}} and waiting == {"c": "{}"}
    assert snapshots.writes == [("a", mark, 3)] and waiting.writes == [("a", None, 3)]
    assert is_learned(snapshots["a"]) and not is_learned(snapshots["b"])
    assert lessons.release(NOW) == []

    stored: list[str] = []

    async def flush() -> None:
        stored.append("marks")
        assert not outcome.committable  # acked only after the marks are stored

    asyncio.run(acked_when_stored(released, flush))
    assert stored == ["marks"] and outcome.committable and snapshot.committable


def test_a_mark_is_never_a_snapshot() -> None:
    assert not is_learned({"features": {}, "scored_ms": 0}) and not is_learned({})
    assert not is_learned(None) and not is_learned("{}")


def test_the_sweep_forgets_only_what_no_outcome_can_use_in_partitions_it_owns() -> None:
    old, fresh = NOW - KEEP_MS - 1, NOW - KEEP_MS + 60_000
    snapshots = Table({
        "old": stored(Snapshot({"x": 1.0}, scored_ms=old)),
        "fresh": stored(Snapshot({"x": 1.0}, scored_ms=fresh)),
        "undated": {"x": 1.0},  # the old bare form: it could still teach
        "old-mark": learned_mark(old),
        "fresh-mark": learned_mark(fresh),
        "undated-mark": {"learned": True},
        "old-held": {"features": {"x": 1.0}, "scored_ms": old},
        "old-elsewhere": {"features": {"x": 1.0}, "scored_ms": old},
    })
    waiting = Table({"late": str(NOW - UNKNOWN_AFTER_MS - 1), "recent": str(NOW - 1_000),
                     "late-held": str(NOW - UNKNOWN_AFTER_MS - 1)})
    partitions = {key: 1 for key in (*snapshots, *waiting)} | {"old-elsewhere": 2}

    forgotten = asyncio.run(forget_outlived(
        snapshots, waiting, NOW, partition_of=partitions.__getitem__, owned={0, 1},
        held={"old-held", "late-held"}, occurred_ms=int))

    assert (forgotten.snapshots, forgotten.outcomes) == (3, 1)
    # Another worker's stale copy leaves memory, without a tombstone into its changelog.
    assert set(snapshots) == {"fresh", "undated", "fresh-mark", "old-held"}
    assert set(waiting) == {"recent", "late-held"}
    # Tombstones in each key's own partition, so the changelog forgets them too.
    assert sorted(snapshots.writes) == [("old", None, 1), ("old-mark", None, 1),
                                        ("undated-mark", None, 1)]
    assert waiting.writes == [("late", None, 1)]
