"""Lessons the scorer learned but no checkpoint holds yet: their messages stay unacked.

A SIGKILL loses whatever the models learned since their last checkpoint (up to
`Settings.checkpoint_seconds`). So the message that taught a lesson (an outcome, or
the scored lead whose outcome was waiting) is acknowledged only once a checkpoint was
written after the learning, and both halves of the join (the snapshot in `features_by_lead`,
a waiting outcome in `outcome_by_lead`) are kept until then: after a crash the message is
read again, finds its other half, and the lesson is learned again on top of the restored
checkpoint. In other words, the offsets of what was learned are committed with the model.

`release()` runs right after a checkpoint was saved, in the same event-loop step (no agent
learns in between), so every lesson it releases is inside that checkpoint. It marks each
lead learned (`learned_mark`, dated) in the snapshot table instead of forgetting it (a
rebalance or restart seeks back to the committed offsets, and a released outcome and its
snapshot read again must not meet as a new join: the E7 scenario counted 3,943 labels for
3,889 outcomes before the mark) and drops its waiting outcome. The marks go to the
changelogs through the worker's batch producer; the held messages are acked once they are
stored (`acked_when_stored`), so a commit never runs ahead of the marks that make a replay
harmless.

One window stays: a SIGKILL after the checkpoint is written and before its marks are stored
(the time of one flush, milliseconds) replays lessons the checkpoint already holds, and
those are learned twice. Closing it would mean storing the released lead ids inside the
scorer's checkpoint.

Holding works with `Stream.take_events`, which acks every event of a batch after the batch:
`hold` takes one more reference on the message, and the release gives it back.

Neither half of the join lives forever: most leads never get an outcome, and a snapshot
takes ~1.4 kB of memory even as text (`streams.scoring.labels.stored`; 12 GB an hour at
2,500 leads/s). `forget_outlived` drops, on a timer,
the snapshots and marks no outcome can use any more (`streams.scoring.labels.outlived`)
and the outcomes that waited for a snapshot past `UNKNOWN_AFTER_MS` (dropped as
``unknown``, as they would be on arrival), never a held lesson's, and only in the
partitions this worker owns (`agents.persist.sweep`): a key of another worker's partition
is a stale copy, dropped from memory only, as its tombstone would delete the owner's value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agents.persist import SweptTable, sweep
from streams.scoring.labels import judge, outlived


def learned_mark(at_ms: int) -> dict[str, Any]:
    """The value a learned lead's snapshot is replaced with (never a real snapshot, which
    always has `features`; `streams.scoring.labels.stored`), dated for `forget_outlived`."""
    return {"learned": True, "at_ms": at_ms}


def is_learned(value: object) -> bool:
    return isinstance(value, Mapping) and value.get("learned") is True


class Held(Protocol):
    """What a lesson holds: a Faust event (`event.message.incref()`, `event.ack()`)."""

    message: Any

    def ack(self) -> bool: ...


class JoinTable(SweptTable, Protocol):
    """`agents.persist.Changelogged`: writes to a given changelog partition."""

    def set(self, key: str, value: Any, partition: int = -1) -> None: ...


@dataclass
class HeldLessons:
    """Learned-but-not-checkpointed lessons: their events, and each lead's partition."""

    snapshots: JoinTable
    waiting: JoinTable
    _events: list[Held] = field(default_factory=list)
    _partitions: dict[str, int] = field(default_factory=dict)

    def hold(self, event: Held, lead_id: str, partition: int) -> None:
        """Keep `event` unacked (one more reference) until the next release."""
        event.message.incref()
        self._events.append(event)
        self._partitions[lead_id] = partition

    def __contains__(self, lead_id: object) -> bool:
        return lead_id in self._partitions

    def __len__(self) -> int:
        return len(self._partitions)

    def release(self, now_ms: int) -> list[Held]:
        """A checkpoint holds every held lesson now: mark their leads learned, drop their
        waiting outcomes, and return the events to ack once those writes are stored."""
        events, self._events = self._events, []
        partitions, self._partitions = self._partitions, {}
        mark = learned_mark(now_ms)
        for lead_id, partition in partitions.items():
            self.snapshots.set(lead_id, mark, partition)
            if self.waiting.get(lead_id) is not None:
                self.waiting.delete(lead_id, partition)
        return events


async def acked_when_stored(events: list[Held], stored: Callable[[], Awaitable[None]]) -> None:
    """Ack `events` once `stored()` returned (the marks of their release are in Kafka)."""
    await stored()
    for event in events:
        event.ack()


@dataclass(frozen=True)
class Forgotten:
    snapshots: int  # snapshots and learned marks
    outcomes: int  # waiting outcomes, dropped as unknown


async def forget_outlived(snapshots: JoinTable, waiting: JoinTable, now_ms: int, *,
                          partition_of: Callable[[str], int], owned: Container[int],
                          held: Container[str], occurred_ms: Callable[[Any], int]
                          ) -> Forgotten:
    """Forget what no outcome can use any more (see the module docstring)."""
    return Forgotten(
        snapshots=await sweep(
            snapshots, lambda lead_id, kept: lead_id not in held and outlived(kept, now_ms),
            partition_of=partition_of, owned=owned),
        outcomes=await sweep(
            waiting, lambda lead_id, text: lead_id not in held
            and judge(None, occurred_ms(text), now_ms) == "unknown",
            partition_of=partition_of, owned=owned))
