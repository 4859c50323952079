"""A correction to Faust 0.15.3's offset bookkeeping that our at-least-once promise needs.

Faust keeps `_committed_offset[tp]` as the *next* offset to read (what Kafka stores),
but `Consumer._new_offset` treats it as the last offset processed: it lets a commit
through when the lowest acked offset is `committed + 1`. So if the message at
`committed` itself was never acked, the commit jumps over it and the message is lost
for good. That happens at start-up with a backlog: `_drain_messages` delivers each
message inside `wait_first(callback, suspend_flow.wait())`, which cancels the delivery
when flow is suspended mid-way, yet still marks the message read. Reproduced here: a
worker restarted with 200 events waiting skipped the first one of a partition and
committed past it (`tests/integration/test_features.py` history, issue 4 note).

The patch refuses to commit while the offset at the head is neither acked nor inside
a gap Faust recorded (offsets the log does not have). A message lost
that way is then read again by the next worker that takes the partition, instead of
never (the partition's lag grows meanwhile: a restart clears it; `aiqleads` logs it once).
Measured on the reproduction: without the patch 199 of 200 re-sent leads scored and the
offset committed past the lost one; with it, commits held at that offset, and after a
restart 200 of 200. Remove it when Faust fixes the off-by-one.

The same holds for a partition the group never committed (no head to compare with): there
Faust's first commit was the first run of acked offsets, past older messages still in flight,
and a held lesson (`agents.lessons`) was committed under and never learned again after a
SIGKILL (E1 of the fault suite, 13-18 of 3,889 outcomes under load). The first commit now
waits for every older message the consumer still tracks as unacknowledged.

Holding alone left the skipped message unprocessed until the next restart: a worker that
ran on afterwards never landed it (the issue-15 "9,721 of 9,722 under kills"; the E1
scenario of tests/e2e saw the same loss as outcomes never learned). So the second half
removes the cause: the consumer's delivery callback runs shielded, and when a flow
suspension cancels it mid-way, the delivery still completes in the background (the
message is already marked read, so it must reach every agent). A delivery cut short is
logged; the hold above then only guards against causes we have not seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger(__name__)

_original_new_offset = Consumer._new_offset
_original_init = Consumer.__init__
_interrupted: list[int] = [0]


def _new_offset(self: Any, tp: Any) -> int | None:
    acked = self._acked[tp]
    committed = self._committed_offset[tp]
    if acked and committed is None:
        # A partition the group never committed: Faust has no head to hold at, and its
        # first commit is the first run of acked offsets, past older messages still in
        # flight (E1 saw it: outcomes held for the scorer's checkpoint, committed under them
        # by a fresh group's first commit, were never learned again after the SIGKILL).
        head = min(acked)
        older = [m.offset for m in list(self._unacked_messages)
                 if m.tp == tp and not m.acked and m.offset < head]
        if older:
            warned = self.__dict__.setdefault("_aiq_held_first", {})
            if warned.get(tp) != min(older):  # once per held offset, not every commit tick
                warned[tp] = min(older)
                log.info("holding the first commit of %s: offset %d not acknowledged yet "
                         "(lowest acked %d)", tp, min(older), head)
            return None
    if acked and committed is not None:
        head = min(acked)
        gaps = self._gap[tp]
        # Faust records the gap after a seek from `committed + 1` (the same off-by-one):
        # a head that starts a recorded gap means the log has no message at `committed`
        # (retention deleted it), not that one was dropped.
        if head > committed and not (gaps.overlaps(committed) or gaps.overlaps(committed + 1)):
            warned = self.__dict__.setdefault("_aiq_held_heads", {})
            if warned.get(tp) != committed:  # once per held offset, not every commit tick
                warned[tp] = committed
                # Usually an agent holding its ack on purpose (a lesson waiting for the
                # scorer's checkpoint, agents/lessons.py); a lost delivery looks the same.
                log.info("holding commits of %s at offset %d: not acknowledged yet "
                         "(lowest acked %d)", tp, committed, head)
            return None
    return _original_new_offset(self, tp)


def deliver_whole(
    deliver: Callable[[Any], Awaitable[None]],
) -> Callable[[Any], Awaitable[None]]:
    """`deliver`, finishing in the background when its caller is cancelled mid-way."""

    async def delivering(message: Any) -> None:
        task = asyncio.ensure_future(deliver(message))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                _interrupted[0] += 1
                log.warning("delivery of %s[%d]@%d was interrupted by a flow suspension; "
                            "completing it (%d so far)", message.topic, message.partition,
                            message.offset, _interrupted[0])
                task.add_done_callback(_retrieve)
            raise

    delivering.__wrapped__ = deliver  # type: ignore[attr-defined]
    return delivering


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a completed delivery failed: %r", task.exception())


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    if not hasattr(self.callback, "__wrapped__"):
        self.callback = deliver_whole(self.callback)


def apply() -> None:
    """Install the corrections (idempotent)."""
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    Consumer.__init__ = _init  # type: ignore[method-assign]
