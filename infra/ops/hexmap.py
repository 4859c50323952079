"""The operators' lead map: per-H3-cell layers drawn as hexagons on `/ops`.

The warehouse aggregates recent leads by their res-7 cell (`MAP_SQL`: ClickHouse 18.16 has
no h3 functions, so the roll-up to the display resolution happens here); buyers' working
cells and competitor offices come from the same files the worker loads. Each cell carries
its boundary from `h3.cell_to_boundary`, so the page only projects and fills polygons.

Layers: `leads` (density), `mean_score`, `fraud_share` (quarantined / leads), `median_price`
(the lead-weighted median of the res-7 medians: exact where a display cell holds one res-7
cell, an approximation above that), `buyers` (buyer profiles working the cell), `offices`
(competitor offices in the cell).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import h3

from schemas.market import Buyer, CompetitorOffice

LAYERS = ("leads", "mean_score", "fraud_share", "median_price", "buyers", "offices")

#: Aggregates per res-7 cell over the last `{since_ms}`; `{table}` is the leads table.
MAP_SQL = """
SELECT h3_r7, count() AS leads, sum(score) AS score_sum, sum(quarantined) AS quarantined,
       quantile(0.5)(price) AS median_price, countIf(price IS NOT NULL) AS priced
FROM {table} FINAL
WHERE scored_ms >= {since_ms} AND h3_r7 != 0
GROUP BY h3_r7
"""


@dataclass(frozen=True)
class CellRow:
    """One res-7 cell's aggregates, as `MAP_SQL` returns them."""

    h3_r7: int
    leads: int
    score_sum: float
    quarantined: int
    median_price: float | None
    priced: int


@dataclass
class _Cell:
    leads: int = 0
    score_sum: float = 0.0
    quarantined: int = 0
    prices: list[tuple[float, int]] = field(default_factory=list)  # (median, weight)
    buyers: set[str] = field(default_factory=set)
    offices: int = 0


def _weighted_median(values: list[tuple[float, int]]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    half = sum(w for _, w in ordered) / 2
    running = 0
    for value, weight in ordered:
        running += weight
        if running >= half:
            return value
    return ordered[-1][0]


def build_map(rows: Iterable[CellRow], buyers: Iterable[Buyer],
              offices: Iterable[CompetitorOffice], resolution: int = 5) -> dict[str, object]:
    """The map payload: cells at `resolution` with every layer's value and a boundary."""
    cells: dict[str, _Cell] = defaultdict(_Cell)

    def parent(cell_r7: int) -> str:
        return h3.cell_to_parent(h3.int_to_str(cell_r7), resolution)

    for row in rows:
        cell = cells[parent(row.h3_r7)]
        cell.leads += row.leads
        cell.score_sum += row.score_sum
        cell.quarantined += row.quarantined
        if row.priced and row.median_price is not None:
            cell.prices.append((float(row.median_price), row.priced))
    for buyer in buyers:
        for cell_r7 in buyer.cells_r7:
            cells[parent(cell_r7)].buyers.add(buyer.buyer_id)
    for office in offices:
        if getattr(office, "active", True):
            cells[h3.latlng_to_cell(office.lat, office.lon, resolution)].offices += 1

    out = []
    for cell_id, cell in sorted(cells.items()):
        out.append({
            "cell": cell_id,
            "boundary": [[round(lat, 5), round(lng, 5)]
                         for lat, lng in h3.cell_to_boundary(cell_id)],
            "leads": cell.leads,
            "mean_score": round(cell.score_sum / cell.leads, 4) if cell.leads else None,
            "fraud_share": round(cell.quarantined / cell.leads, 4) if cell.leads else None,
            "median_price": _weighted_median(cell.prices),
            "buyers": len(cell.buyers),
            "offices": cell.offices,
        })
    return {"resolution": resolution, "layers": list(LAYERS), "cells": out}
