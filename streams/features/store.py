"""What a stateful feature store looks like to the ingest stage and to its Faust table.

A store is plain in-memory Python (fast on the hot path, easy to unit-test). It
reads features for a lead *before* counting that lead (`features`, then
`observe`), so a lead never sees itself. Persistence is write-behind: the store
remembers which keys changed (`take_dirty`) and can `export` one key to a
JSON-able value or `restore` it from one. The worker flushes dirty keys into a
changelogged Faust table about once a second (agents/persist.py) instead of
writing the changelog once per lead, and restores the store from that table
after recovery.
"""

from __future__ import annotations

from typing import Any, Protocol

from schemas.lead import Lead
from streams.enrich import H3Cells

Features = dict[str, float]


class Persistent(Protocol):
    def take_dirty(self) -> list[str]:
        """Keys changed since the last call (and forget them)."""

    def export(self, key: str) -> Any | None:
        """A JSON-able value for `key`; None means the key is gone (delete it)."""

    def restore(self, key: str, value: Any) -> None:
        """Load one key's exported value (after a restart)."""


class LeadFeatureStore(Persistent, Protocol):
    def features(self, lead: Lead, cells: H3Cells, now_ms: int) -> Features:
        """Features for `lead` from what the store has seen so far (prefixed names)."""

    def observe(self, lead: Lead, cells: H3Cells, now_ms: int) -> None:
        """Count `lead` in the store's state."""


class DirtyKeys:
    """The change tracking every store shares."""

    __slots__ = ("_dirty",)

    def __init__(self) -> None:
        self._dirty: set[str] = set()

    def touch(self, key: str) -> None:
        self._dirty.add(key)

    def take(self) -> list[str]:
        dirty, self._dirty = self._dirty, set()
        return list(dirty)
