"""H3 cells of a lead's location, and neighbourhoods of a cell.

Contract:
- `h3_cells(lat, lon)` gives 64-bit integer cells at resolutions 7, 8 and 9 (H3Cells);
  r8 and r7 are the *parents* of r9, not fresh lookups. H3 children do not tile their
  parent exactly, so for ~7% of points the parent differs from the res-8 cell that
  contains the point; parents keep per-cell rollups (r9 → r8 → r7) exact and cost
  ~0.3 µs each instead of ~0.8 µs.
- Unlocated leads, and coordinates H3 cannot take, give `NO_CELLS` (zeros).
"""

from __future__ import annotations

from math import isfinite
from typing import NamedTuple

import h3.api.basic_int as h3

from schemas.lead import Lead


class H3Cells(NamedTuple):
    r7: int
    r8: int
    r9: int


NO_CELLS = H3Cells(0, 0, 0)


def h3_cells(lat: float | None, lon: float | None) -> H3Cells:
    """Cells at resolutions 7, 8, 9 for a point; NO_CELLS when there is no usable point."""
    if lat is None or lon is None or not (isfinite(lat) and isfinite(lon)):
        return NO_CELLS
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return NO_CELLS  # h3 wraps such input silently instead of refusing it
    r9 = h3.latlng_to_cell(lat, lon, 9)
    return H3Cells(h3.cell_to_parent(r9, 7), h3.cell_to_parent(r9, 8), r9)


def enrich(lead: Lead) -> H3Cells:
    """The H3 cells of a lead (zeros when `location_precision` is "none")."""
    if lead.location_precision == "none":
        return NO_CELLS
    return h3_cells(lead.lat, lead.lon)


def neighbours(cell: int, k: int = 1) -> list[int]:
    """Cells within `k` grid steps of `cell`, the cell itself included (H3 grid_disk)."""
    return h3.grid_disk(cell, k)
