"""Windowed lead density per H3 res-8 cell and its k-rings.

Contract:
- `DensityWindow(window_hours, buckets)` counts leads per res-8 cell in `buckets`
  time buckets spanning `window_hours` (the window rolls a bucket at a time, so
  a lead stops counting between `window - bucket` and `window` after it arrived).
- `features` gives `geo_density_cell`, `geo_density_ring1` (the cell and its 6
  neighbours) and `geo_density_ring2` (19 cells), each log1p of the count; an
  unlocated lead gets zeros. Read before `observe`: a lead never counts itself.
- Persistence: one key per cell (`str(cell)`), value `[[bucket, count], ...]`;
  a cell whose buckets all expired exports None (deleted from the table).
  `sweep(now_ms)` drops cells no lead has touched for a whole window, so the
  state tracks where leads are now, not everywhere they ever were.
- `counts(now_ms)` gives every live cell's count (what the clustering reads).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from functools import lru_cache
from math import log1p
from typing import Any

import h3.api.basic_int as h3

from schemas.lead import Lead
from streams.enrich import H3Cells
from streams.features.store import DirtyKeys, Features

HOUR_MS = 3_600_000

NO_DENSITY: Features = {"geo_density_cell": 0.0, "geo_density_ring1": 0.0,
                        "geo_density_ring2": 0.0}


@lru_cache(maxsize=1 << 16)
def rings(cell: int) -> tuple[frozenset[int], frozenset[int]]:
    """(the cell and its ring-1 neighbours, every cell within 2 steps)."""
    # grid_disk costs ~15 µs; leads cluster in metros, so the same cells come back.
    return frozenset(h3.grid_disk(cell, 1)), frozenset(h3.grid_disk(cell, 2))


class _Buckets:
    """Counts of one cell: (bucket, count) pairs, oldest first, and their total."""

    __slots__ = ("pairs", "total")

    def __init__(self) -> None:
        self.pairs: deque[list[int]] = deque()
        self.total = 0

    def expire(self, oldest_live: int) -> None:
        pairs = self.pairs
        while pairs and pairs[0][0] < oldest_live:
            self.total -= pairs.popleft()[1]


class DensityWindow:
    """Leads per res-8 cell over a sliding window of time buckets."""

    def __init__(self, window_hours: float = 24.0, buckets: int = 24) -> None:
        if window_hours <= 0 or buckets < 1:
            raise ValueError("window_hours must be positive and buckets at least 1")
        self.bucket_ms = max(1, int(window_hours * HOUR_MS / buckets))
        self.buckets = buckets
        self._cells: dict[int, _Buckets] = {}
        self._dirty = DirtyKeys()

    def _oldest_live(self, now_ms: int) -> int:
        return now_ms // self.bucket_ms - self.buckets + 1

    def count(self, cell: int, now_ms: int) -> int:
        """Leads seen in `cell` within the window ending at `now_ms`."""
        entry = self._cells.get(cell)
        if entry is None:
            return 0
        entry.expire(self._oldest_live(now_ms))
        return entry.total

    def features(self, lead: Lead, cells: H3Cells, now_ms: int) -> Features:
        cell = cells.r8
        if not cell:
            return dict(NO_DENSITY)
        inner, disk = rings(cell)
        oldest = self._oldest_live(now_ms)
        known = self._cells
        own = ring1 = ring2 = 0
        # Set intersection runs in C: only the few cells with leads cost Python steps.
        for neighbour in known.keys() & disk:
            entry = known[neighbour]
            if entry.pairs and entry.pairs[0][0] < oldest:
                entry.expire(oldest)
            ring2 += entry.total
            if neighbour in inner:
                ring1 += entry.total
                if neighbour == cell:
                    own = entry.total
        return {"geo_density_cell": log1p(own), "geo_density_ring1": log1p(ring1),
                "geo_density_ring2": log1p(ring2)}

    def observe(self, lead: Lead, cells: H3Cells, now_ms: int) -> None:
        cell = cells.r8
        if not cell:
            return
        entry = self._cells.get(cell)
        if entry is None:
            entry = self._cells[cell] = _Buckets()
        bucket = now_ms // self.bucket_ms
        pairs = entry.pairs
        if pairs and pairs[-1][0] >= bucket:
            # A late lead joins the newest bucket: buckets stay ordered, the error is
            # one bucket at most.
            pairs[-1][1] += 1
        else:
            pairs.append([bucket, 1])
        entry.total += 1
        self._dirty.touch(str(cell))

    def counts(self, now_ms: int) -> Iterator[tuple[int, int]]:
        """(cell, leads in the window) for every cell with any."""
        oldest = self._oldest_live(now_ms)
        for cell, entry in self._cells.items():
            entry.expire(oldest)
            if entry.total:
                yield cell, entry.total

    def sweep(self, now_ms: int) -> int:
        """Forget cells with no lead in the window; returns how many."""
        oldest = self._oldest_live(now_ms)
        gone = []
        for cell, entry in self._cells.items():
            entry.expire(oldest)
            if not entry.pairs:
                gone.append(cell)
        for cell in gone:
            del self._cells[cell]
            self._dirty.touch(str(cell))
        return len(gone)

    def take_dirty(self) -> list[str]:
        return self._dirty.take()

    def export(self, key: str) -> Any | None:
        entry = self._cells.get(int(key))
        if entry is None or not entry.pairs:
            return None
        return [list(pair) for pair in entry.pairs]

    def restore(self, key: str, value: Any) -> None:
        entry = _Buckets()
        for bucket, count in sorted(value):
            entry.pairs.append([int(bucket), int(count)])
            entry.total += int(count)
        if entry.pairs:
            self._cells[int(key)] = entry
        else:
            self._cells.pop(int(key), None)
