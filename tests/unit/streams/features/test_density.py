from __future__ import annotations

import math
from datetime import UTC, datetime

import h3.api.basic_int as h3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.lead import Lead
from streams.enrich import NO_CELLS, H3Cells, h3_cells
from streams.features.density import NO_DENSITY, DensityWindow

HOUR = 3_600_000
T0 = 1_780_000_000_000  # a bucket boundary is not assumed anywhere
AUSTIN = h3_cells(30.2713, -97.7426)
LEAD = Lead(lead_id="x", source="portal", source_lead_id="x",
            event_time=datetime(2026, 5, 1, tzinfo=UTC), received_time=datetime(2026, 5, 1,
                                                                                 tzinfo=UTC))


def _at(cell_r8: int) -> H3Cells:
    return H3Cells(h3.cell_to_parent(cell_r8, 7), cell_r8, h3.cell_to_center_child(cell_r8, 9))


def _ring(k: int) -> H3Cells:
    """A cell exactly k grid steps from Austin's res-8 cell."""
    return _at(h3.grid_ring(AUSTIN.r8, k)[0])


def _counts(window: DensityWindow, cells: H3Cells, now_ms: int) -> tuple[float, ...]:
    x = window.features(LEAD, cells, now_ms)
    return tuple(round(math.expm1(x[f"geo_density_{name}"])) for name in ("cell", "ring1", "ring2"))


def test_a_lead_is_counted_after_its_features_are_read() -> None:
    window = DensityWindow(24)
    assert _counts(window, AUSTIN, T0) == (0, 0, 0)
    window.observe(LEAD, AUSTIN, T0)
    assert _counts(window, AUSTIN, T0) == (1, 1, 1)


def test_rings_include_the_neighbours_at_their_distance() -> None:
    window = DensityWindow(24)
    window.observe(LEAD, AUSTIN, T0)
    for _ in range(2):
        window.observe(LEAD, _ring(1), T0)
    for _ in range(4):
        window.observe(LEAD, _ring(2), T0)
    window.observe(LEAD, _ring(3), T0)  # beyond ring 2: not counted
    assert _counts(window, AUSTIN, T0) == (1, 3, 7)
    # Seen from the ring-1 cell, Austin's cell is a neighbour (and so may the ring-2 one be).
    near_ring2 = h3.grid_distance(_ring(1).r8, _ring(2).r8) <= 1
    assert _counts(window, _ring(1), T0)[:2] == (2, 3 + 4 * near_ring2)


def test_counts_roll_off_after_the_window() -> None:
    window = DensityWindow(24, buckets=24)
    window.observe(LEAD, AUSTIN, T0)
    window.observe(LEAD, AUSTIN, T0 + 12 * HOUR)
    assert _counts(window, AUSTIN, T0 + 23 * HOUR)[0] == 2
    assert _counts(window, AUSTIN, T0 + 25 * HOUR)[0] == 1  # the first one left
    assert _counts(window, AUSTIN, T0 + 37 * HOUR)[0] == 0


def test_sweep_forgets_empty_cells_and_deletes_their_keys() -> None:
    window = DensityWindow(24)
    window.observe(LEAD, AUSTIN, T0)
    window.take_dirty()
    assert window.sweep(T0 + HOUR) == 0
    assert window.sweep(T0 + 25 * HOUR) == 1
    assert window.take_dirty() == [str(AUSTIN.r8)]
    assert window.export(str(AUSTIN.r8)) is None


def test_export_restore_round_trip_gives_identical_features() -> None:
    window = DensityWindow(24)
    for i, cells in enumerate([AUSTIN, AUSTIN, _ring(1), _ring(2), _ring(2)]):
        window.observe(LEAD, cells, T0 + i * HOUR)
    restored = DensityWindow(24)
    for key in window.take_dirty():
        restored.restore(key, window.export(key))
    now = T0 + 10 * HOUR
    for cells in (AUSTIN, _ring(1), _ring(2), _ring(3)):
        assert restored.features(LEAD, cells, now) == window.features(LEAD, cells, now)


def test_unlocated_leads_get_zeros_and_are_not_counted() -> None:
    window = DensityWindow(24)
    window.observe(LEAD, NO_CELLS, T0)
    assert window.features(LEAD, NO_CELLS, T0) == NO_DENSITY
    assert window.take_dirty() == []


def test_a_late_lead_counts_in_the_newest_bucket() -> None:
    window = DensityWindow(24)
    window.observe(LEAD, AUSTIN, T0 + 5 * HOUR)
    window.observe(LEAD, AUSTIN, T0)  # arrived late
    assert window.count(AUSTIN.r8, T0 + 5 * HOUR) == 2


def test_bad_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window_hours"):
        DensityWindow(0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12 * HOUR), st.booleans()),
                min_size=5, max_size=60))
def test_features_equal_a_naive_count_of_the_window(steps: list[tuple[int, int, bool]]) -> None:
    """Over days of leads in a few nearby cells, with a restart (export → restore) now and
    then, every read equals counting the leads whose bucket is still in the window."""
    places = [AUSTIN, _ring(1), _ring(2), _ring(3)]
    window, seen = DensityWindow(24, buckets=24), []
    now = T0
    for place, gap, restart in steps:
        now += gap
        cells = places[place]
        oldest = now // HOUR - 23
        for looked in places:
            inner, disk = set(h3.grid_disk(looked.r8, 1)), set(h3.grid_disk(looked.r8, 2))
            live = [cell for cell, bucket in seen if bucket >= oldest]
            expected = (sum(c == looked.r8 for c in live), sum(c in inner for c in live),
                        sum(c in disk for c in live))
            assert _counts(window, looked, now) == expected
        window.observe(LEAD, cells, now)
        seen.append((cells.r8, now // HOUR))
        if restart:
            restored = DensityWindow(24, buckets=24)
            for place_ in places:
                value = window.export(str(place_.r8))
                if value is not None:
                    restored.restore(str(place_.r8), value)
            window = restored
