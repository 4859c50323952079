"""H3 enrichment: expected cells come from h3's string API, not from the code under test."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import h3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.lead import Lead
from streams.enrich import NO_CELLS, H3Cells, enrich, h3_cells, neighbours

POINTS = [
    (30.2713, -97.7426),  # Austin
    (40.7484, -73.9857),  # New York
    (21.3069, -157.8583),  # Honolulu
    (61.2181, -149.9003),  # Anchorage
    (18.4655, -66.1057),  # San Juan
    (52.9, 173.2),  # Attu
]


def expected_cells(lat: float, lon: float) -> H3Cells:
    r9 = h3.latlng_to_cell(lat, lon, 9)
    return H3Cells(
        h3.str_to_int(h3.cell_to_parent(r9, 7)),
        h3.str_to_int(h3.cell_to_parent(r9, 8)),
        h3.str_to_int(r9),
    )


@pytest.mark.parametrize(("lat", "lon"), POINTS)
def test_known_points(lat: float, lon: float) -> None:
    assert h3_cells(lat, lon) == expected_cells(lat, lon)


def test_austin_literal() -> None:
    # Pinned once from h3's string API: guards against a changed resolution or encoding.
    assert h3_cells(30.2713, -97.7426).r9 == h3.str_to_int("89489e34667ffff")


@given(st.floats(24.5, 49.0), st.floats(-124.5, -67.0))
def test_hierarchy_is_consistent(lat: float, lon: float) -> None:
    cells = h3_cells(lat, lon)
    assert cells.r9 == h3.str_to_int(h3.latlng_to_cell(lat, lon, 9))
    assert h3.get_resolution(h3.int_to_str(cells.r7)) == 7
    assert h3.get_resolution(h3.int_to_str(cells.r8)) == 8
    assert h3.cell_to_parent(h3.int_to_str(cells.r8), 7) == h3.int_to_str(cells.r7)
    assert h3.cell_to_parent(h3.int_to_str(cells.r9), 8) == h3.int_to_str(cells.r8)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (None, None),
        (30.0, None),
        (None, -97.0),
        (math.nan, -97.0),
        (30.0, math.inf),
        (91.0, 0.0),
        (0.0, -181.0),
    ],
)
def test_unusable_points_give_zeros(lat: float | None, lon: float | None) -> None:
    assert h3_cells(lat, lon) == NO_CELLS == H3Cells(0, 0, 0)


def _lead(**fields: object) -> Lead:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    return Lead(
        lead_id="0" * 32,
        source="portal",
        source_lead_id="1",
        event_time=now,
        received_time=now,
        **fields,
    )  # type: ignore[arg-type]


def test_enrich_located_lead() -> None:
    lead = _lead(lat=30.2713, lon=-97.7426, location_precision="zip")
    assert enrich(lead) == expected_cells(30.2713, -97.7426)


def test_enrich_unlocated_lead() -> None:
    assert enrich(_lead()) == NO_CELLS
    assert enrich(_lead(lat=30.0, lon=-97.0, location_precision="none")) == NO_CELLS


def test_neighbours() -> None:
    cell = h3_cells(30.2713, -97.7426).r9
    ring = neighbours(cell, 1)
    assert cell in ring
    assert sorted(ring) == sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(cell), 1))
    assert len(ring) == 7
    assert len(neighbours(cell, 2)) == 19
    assert neighbours(cell, 0) == [cell]
