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
"""

from __future__ import annotations

import logging
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger(__name__)

_original_new_offset = Consumer._new_offset


def _new_offset(self: Any, tp: Any) -> int | None:
    acked = self._acked[tp]
    committed = self._committed_offset[tp]
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
                log.warning("holding commits of %s at offset %d: never delivered to its "
                            "agent (lowest acked %d); it is read again after the next "
                            "restart or rebalance", tp, committed, head)
            return None
    return _original_new_offset(self, tp)


def apply() -> None:
    """Install the correction (idempotent)."""
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
