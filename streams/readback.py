"""Re-sends of leads this worker does not remember, waiting to be read back from the
warehouse: a dedupe link (`MissedLink`) or a fraud pull-back (`FraudVerdict`) found for a
lead that is not in its `RecentLeads`.

The worker that scored a lead remembers it only for a while (in memory, unquarantined,
bounded), and may have stopped since (a scale-down, a restart). A worker that finds a
re-send it cannot make from memory asks the warehouse for the lead (`agents.ingest`):
first after `delay_ms`, time for a worker that remembers the lead to re-send it (the
warehouse then has the new version, and nothing is sent twice), then every `delay_ms`
while the lead has not landed, for at most `patience_ms`; after that it is given up and
counted in `abandoned`.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

DELAY_MS = 2_000
PATIENCE_MS = 60_000


class PendingReads(Generic[T]):
    """Leads to read back, each with what to do once it is read (the first reason wins)."""

    def __init__(self, delay_ms: int = DELAY_MS, patience_ms: int = PATIENCE_MS) -> None:
        self.delay_ms = delay_ms
        self.patience_ms = patience_ms
        self._pending: dict[str, tuple[T, int]] = {}  # lead_id → (reason, first seen)
        self._next_ms = 0
        self.abandoned = 0

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, lead_id: str, reason: T, now_ms: int) -> None:
        if lead_id not in self._pending:
            if not self._pending:
                self._next_ms = now_ms + self.delay_ms
            self._pending[lead_id] = (reason, now_ms)

    def due(self, now_ms: int) -> list[str]:
        """The leads to ask the warehouse for now (none until the next attempt)."""
        if not self._pending or now_ms < self._next_ms:
            return []
        self._next_ms = now_ms + self.delay_ms
        return [lead_id for lead_id, (_, seen) in self._pending.items()
                if now_ms - seen >= self.delay_ms]

    def settle(self, asked: list[str], found: set[str], now_ms: int) -> dict[str, T]:
        """The reasons of the `asked` leads the warehouse `found`, now done with; the others
        wait for the next attempt, or are given up past `patience_ms`."""
        settled: dict[str, T] = {}
        for lead_id in asked:
            pending = self._pending.get(lead_id)
            if pending is None:
                continue
            reason, seen = pending
            if lead_id in found:
                settled[lead_id] = reason
            elif now_ms - seen < self.patience_ms:
                continue
            else:
                self.abandoned += 1
            del self._pending[lead_id]
        return settled
