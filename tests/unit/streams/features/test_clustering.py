from __future__ import annotations

import math
from datetime import UTC, datetime

import h3.api.basic_int as h3

from schemas.lead import Lead
from streams.enrich import NO_CELLS, H3Cells
from streams.features.clustering import NOISE, LeadClusters, clusters_of
from streams.features.density import DensityWindow

HOUR = 3_600_000
T0 = 1_780_000_000_000
AUSTIN = h3.latlng_to_cell(30.2713, -97.7426, 7)
DALLAS = h3.latlng_to_cell(32.7767, -96.7970, 7)
LEAD = Lead(lead_id="x", source="portal", source_lead_id="x",
            event_time=datetime(2026, 5, 1, tzinfo=UTC), received_time=datetime(2026, 5, 1,
                                                                                 tzinfo=UTC))


def _cells(cell_r7: int) -> H3Cells:
    r8 = h3.cell_to_center_child(cell_r7, 8)
    return H3Cells(cell_r7, r8, h3.cell_to_center_child(r8, 9))


def _neighbour(cell: int, k: int = 1) -> int:
    return h3.grid_ring(cell, k)[0]


def test_touching_dense_cells_form_one_cluster_named_by_the_heaviest() -> None:
    a, b = AUSTIN, _neighbour(AUSTIN)
    found = clusters_of({a: 5, b: 3, DALLAS: 4}, min_leads=3)
    assert found[a] == found[b] == (a, 8)
    assert found[DALLAS] == (DALLAS, 4)


def test_a_sparse_cell_next_to_a_core_is_a_border_cell_and_a_lone_one_is_noise() -> None:
    border, lone = _neighbour(AUSTIN), _neighbour(DALLAS, 3)
    found = clusters_of({AUSTIN: 5, border: 1, lone: 2}, min_leads=3)
    assert found[border] == (AUSTIN, 6)
    assert lone not in found
    # An empty cell next to the core belongs too: the next lead there joins the cluster.
    assert found[h3.grid_ring(AUSTIN, 1)[3]][0] == AUSTIN


def test_leads_get_their_clusters_size_and_id() -> None:
    density = DensityWindow(24)
    clusters = LeadClusters(density, min_leads=3, recluster_every=10)
    for _ in range(9):
        for cell in (AUSTIN, _neighbour(AUSTIN)):
            cells = _cells(cell)
            clusters.features(LEAD, cells, T0)
            density.observe(LEAD, cells, T0)
            clusters.observe(LEAD, cells, T0)
    density.observe(LEAD, _cells(DALLAS), T0)
    clusters.recluster(T0)
    assert clusters.cluster_of(LEAD, _cells(_neighbour(AUSTIN))) in {AUSTIN, _neighbour(AUSTIN)}
    assert clusters.features(LEAD, _cells(AUSTIN), T0) == {"clu_size": math.log1p(18)}
    assert clusters.cluster_of(LEAD, _cells(DALLAS)) == NOISE
    assert clusters.features(LEAD, _cells(DALLAS), T0) == {"clu_size": 0.0}
    assert clusters.features(LEAD, NO_CELLS, T0) == {"clu_size": 0.0}


def test_clusters_dissolve_when_their_leads_leave_the_window() -> None:
    density = DensityWindow(24)
    clusters = LeadClusters(density, min_leads=3, recluster_every=1_000)
    for _ in range(5):
        density.observe(LEAD, _cells(AUSTIN), T0)
    assert clusters.recluster(T0) == 1
    assert clusters.recluster(T0 + 48 * HOUR) == 0
    assert clusters.cluster_of(LEAD, _cells(AUSTIN)) == NOISE


def test_observe_reclusters_on_its_own_when_due() -> None:
    density = DensityWindow(24)
    clusters = LeadClusters(density, min_leads=3, recluster_every=4)
    cells = _cells(AUSTIN)
    for _ in range(4):  # the first observe reclusters (nothing yet), the fifth again
        density.observe(LEAD, cells, T0)
        clusters.observe(LEAD, cells, T0)
    assert clusters.cluster_of(LEAD, cells) == NOISE
    density.observe(LEAD, cells, T0)
    clusters.observe(LEAD, cells, T0)
    assert clusters.cluster_of(LEAD, cells) == AUSTIN


def test_restored_density_is_reclustered_at_the_first_lead() -> None:
    density = DensityWindow(24)
    for _ in range(5):
        density.observe(LEAD, _cells(AUSTIN), T0)
    restored = DensityWindow(24)
    for key in density.take_dirty():
        restored.restore(key, density.export(key))
    clusters = LeadClusters(restored, min_leads=3, recluster_every=1_000)
    clusters.observe(LEAD, _cells(DALLAS), T0)
    assert clusters.cluster_of(LEAD, _cells(AUSTIN)) == AUSTIN
