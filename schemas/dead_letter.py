"""The value of `leads.dlq`: an input that could not become a lead, with why and where from."""

from __future__ import annotations

import msgspec


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    reason: str  # a `streams.errors` reason code
    detail: str
    source: str
    topic: str
    partition: int
    offset: int
    raw: bytes  # the original bytes, untouched (base64 in JSON)
    headers: dict[str, str] = {}
    produced_ms: int = 0
    received_ms: int = 0
    # "open" until a replay of the same origin lands as a lead ("resolved").
    status: str = "open"

    @property
    def origin(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"
