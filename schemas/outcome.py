"""The value of `leads.outcomes`: what happened to a lead after it was scored."""

from __future__ import annotations

from typing import Literal

import msgspec

OutcomeKind = Literal["purchase", "conversion", "return", "no_conversion"]

#: Outcomes that count as a positive label for the conversion model.
POSITIVE_OUTCOMES: frozenset[str] = frozenset({"purchase", "conversion"})


class Outcome(msgspec.Struct, kw_only=True, frozen=True):
    lead_id: str
    kind: OutcomeKind
    occurred_ms: int
    buyer_id: str | None = None
    amount: float | None = None

    @property
    def converted(self) -> bool:
        return self.kind in POSITIVE_OUTCOMES
