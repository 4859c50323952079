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
from itertools import repeat
from math import log1p
from typing import Any

import h3.api.basic_int as h3

from schemas.lead import Lead
from streams.enrich import H3Cells
from streams.features.store import DirtyKeys, Features

HOUR_MS = 3_600_000

NO_DENSITY: Features = {"geo_density_cell": 0.0, "geo_density_ring1": 0.0,
                        "geo_density_ring2": 0.0}
_ZERO = repeat(0)  # map(dict.get, cells, _ZERO): each cell's total, 0 when it has none


@lru_cache(maxsize=1 << 16)
def neighbourhood(cell: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the cell and its ring-1 neighbours, the cells exactly 2 steps away)."""
    # grid_disk costs ~15 µs; leads cluster in metros, so the same cells come back.
    inner = tuple(h3.grid_disk(cell, 1))
    return inner, tuple(c for c in h3.grid_disk(cell, 2) if c not in inner)


class DensityWindow:
    """Leads per res-8 cell over a sliding window of time buckets.

    A read sums 19 cells' totals from one flat dict (`_totals`), with no per-cell expiry
    check: every cell's buckets roll off together, at most once a bucket, through the
    index of which cells have a pair in which bucket (`_by_bucket`). Summing the cells'
    objects instead, each checked for expiry, was 7-8 % of a worker (memory lookups, not
    arithmetic: the cells' objects are spread over the heap).
    """

    def __init__(self, window_hours: float = 24.0, buckets: int = 24) -> None:
        if window_hours <= 0 or buckets < 1:
            raise ValueError("window_hours must be positive and buckets at least 1")
        self.bucket_ms = max(1, int(window_hours * HOUR_MS / buckets))
        self.buckets = buckets
        self._pairs: dict[int, deque[list[int]]] = {}  # cell → [bucket, count], oldest first
        self._totals: dict[int, int] = {}  # cell → leads in its live buckets
        self._by_bucket: dict[int, list[int]] = {}  # bucket → cells with a pair in it
        self._live_from = -(1 << 62)  # buckets before this are gone from every cell
        self._dirty = DirtyKeys()

    def _roll(self, now_ms: int) -> None:
        """Drop every cell's buckets older than the window ending at `now_ms`."""
        oldest = now_ms // self.bucket_ms - self.buckets + 1
        if oldest <= self._live_from:
            return
        self._live_from = oldest
        pairs_of, totals = self._pairs, self._totals
        for bucket in [b for b in self._by_bucket if b < oldest]:
            for cell in self._by_bucket.pop(bucket):
                pairs = pairs_of.get(cell)
                while pairs and pairs[0][0] < oldest:
                    totals[cell] -= pairs.popleft()[1]

    def count(self, cell: int, now_ms: int) -> int:
        """Leads seen in `cell` within the window ending at `now_ms`."""
        self._roll(now_ms)
        return self._totals.get(cell, 0)

    def features(self, lead: Lead, cells: H3Cells, now_ms: int) -> Features:
        cell = cells.r8
        if not cell:
            return dict(NO_DENSITY)
        self._roll(now_ms)
        inner, outer = neighbourhood(cell)
        get = self._totals.get
        ring1 = sum(map(get, inner, _ZERO))
        ring2 = ring1 + sum(map(get, outer, _ZERO))
        return {"geo_density_cell": log1p(get(cell, 0)), "geo_density_ring1": log1p(ring1),
                "geo_density_ring2": log1p(ring2)}

    def observe(self, lead: Lead, cells: H3Cells, now_ms: int) -> None:
        cell = cells.r8
        if not cell:
            return
        self._roll(now_ms)
        pairs = self._pairs.get(cell)
        if pairs is None:
            pairs = self._pairs[cell] = deque()
        bucket = now_ms // self.bucket_ms
        if pairs and pairs[-1][0] >= bucket:
            # A late lead joins the newest bucket: buckets stay ordered, the error is
            # one bucket at most.
            pairs[-1][1] += 1
        else:
            pairs.append([bucket, 1])
            self._by_bucket.setdefault(bucket, []).append(cell)
        self._totals[cell] = self._totals.get(cell, 0) + 1
        self._dirty.touch(str(cell))

    def counts(self, now_ms: int) -> Iterator[tuple[int, int]]:
        """(cell, leads in the window) for every cell with any."""
        self._roll(now_ms)
        for cell, total in self._totals.items():
            if total:
                yield cell, total

    def sweep(self, now_ms: int) -> int:
        """Forget cells with no lead in the window; returns how many."""
        self._roll(now_ms)
        gone = [cell for cell, pairs in self._pairs.items() if not pairs]
        for cell in gone:
            del self._pairs[cell]
            self._totals.pop(cell, None)
            self._dirty.touch(str(cell))
        return len(gone)

    def take_dirty(self) -> list[str]:
        return self._dirty.take()

    def export(self, key: str) -> Any | None:
        pairs = self._pairs.get(int(key))
        if not pairs:
            return None
        return [list(pair) for pair in pairs]

    def restore(self, key: str, value: Any) -> None:
        cell = int(key)
        pairs: deque[list[int]] = deque()
        total = 0
        for bucket, count in sorted((int(b), int(c)) for b, c in value):
            if bucket < self._live_from:
                continue  # already past: the other cells' such buckets are gone too
            pairs.append([bucket, count])
            total += count
            self._by_bucket.setdefault(bucket, []).append(cell)
        if pairs:
            self._pairs[cell], self._totals[cell] = pairs, total
        else:
            self._pairs.pop(cell, None)
            self._totals.pop(cell, None)
