"""Lessons the scorer learned but no checkpoint holds yet: their messages stay unacked.

A SIGKILL loses whatever the models learned since their last checkpoint (up to
`agents.models.CHECKPOINT_SECONDS`). So the message that taught a lesson (an outcome, or
the scored lead whose outcome was waiting) is acknowledged only once a checkpoint was
written after the learning, and both halves of the join (the snapshot in `features_by_lead`,
a waiting outcome in `outcome_by_lead`) are kept until then: after a crash the message is
read again, finds its other half, and the lesson is learned again on top of the restored
checkpoint. In other words, the offsets of what was learned are committed with the model.

`release()` runs right after a checkpoint was saved, in the same event-loop step (no agent
learns in between), so every lesson it releases is inside that checkpoint. It marks each
lead `LEARNED` in the snapshot table instead of forgetting it (a rebalance or restart seeks
back to the committed offsets, and a released outcome and its snapshot read again must not
meet as a new join: the E7 scenario counted 3,943 labels for 3,889 outcomes before the mark)
and drops its waiting outcome. The marks go to the changelogs through the worker's batch
producer; the held messages are acked once they are stored (`acked_when_stored`), so a
commit never runs ahead of the marks that make a replay harmless.

One window stays: a SIGKILL after the checkpoint is written and before its marks are stored
(the time of one flush, milliseconds) replays lessons the checkpoint already holds, and
those are learned twice. Closing it would mean storing the released lead ids inside the
scorer's checkpoint.

Holding works with `Stream.take_events`, which acks every event of a batch after the batch:
`hold` takes one more reference on the message, and the release gives it back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

#: The value a learned lead's snapshot is replaced with (never a real snapshot, which always
#: has `features`; `streams.scoring.labels.stored`).
LEARNED: dict[str, Any] = {"learned": True}


def is_learned(value: object) -> bool:
    return isinstance(value, Mapping) and value.get("learned") is True


class Held(Protocol):
    """What a lesson holds: a Faust event (`event.message.incref()`, `event.ack()`)."""

    message: Any

    def ack(self) -> bool: ...


class JoinTable(Protocol):
    """`agents.persist.Changelogged`: writes to a given changelog partition."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any, partition: int = -1) -> None: ...
    def delete(self, key: str, partition: int = -1) -> None: ...


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

    def release(self) -> list[Held]:
        """A checkpoint holds every held lesson now: mark their leads learned, drop their
        waiting outcomes, and return the events to ack once those writes are stored."""
        events, self._events = self._events, []
        partitions, self._partitions = self._partitions, {}
        for lead_id, partition in partitions.items():
            self.snapshots.set(lead_id, LEARNED, partition)
            if self.waiting.get(lead_id) is not None:
                self.waiting.delete(lead_id, partition)
        return events


async def acked_when_stored(events: list[Held], stored: Callable[[], Awaitable[None]]) -> None:
    """Ack `events` once `stored()` returned (the marks of their release are in Kafka)."""
    await stored()
    for event in events:
        event.ack()

