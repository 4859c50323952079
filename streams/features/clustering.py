"""Online density clustering of lead locations: grid DBSCAN on H3 res-7 cells, rerun periodically.

River's `cluster.DBSTREAM` was measured first: its `learn_one` scans every
micro-cluster and `predict_one` reclusters after every learn, 1.3 ms per lead at
460 micro-clusters growing to 10 ms at 900 on generator traffic (2-core box) -
two orders over the hot-path budget. This is the grid variant of DBSCAN
(as in D-Stream) on the H3 grid instead:

- points are the leads of the density window (`streams.features.density.DensityWindow`,
  res-8 counts rolled up to their res-7 parents), eps is "the same or an adjacent
  res-7 cell" (~1.4 km edges) and minPts is `min_leads` leads in a cell;
- core cells (at least `min_leads` leads) that touch form one cluster; a cell
  next to a core cell (leads or not) is a border cell of it; anything else is
  noise, cluster 0.
- A cluster's id is its heaviest core cell (an H3 index, so it can be mapped; it
  changes only when another cell becomes the heaviest). Its size is the leads in
  its core and border cells.

`observe` counts leads and reclusters every `recluster_every` leads, and at least
`RECLUSTER_LEADS_PER_CELL` leads per cell live at the last recluster (a recluster
costs ~4 µs a live cell, so the amortised cost stays about a microsecond a lead
however many cells there are: with 25k live res-8 cells, a 0.1 s recluster every
100k leads); a lookup between reclusters is a dict get. No state of its own to
persist: the counts live in the density window (table `density_by_cell`), and
the first `observe` after a restart reclusters.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from math import log1p

import h3.api.basic_int as h3

from schemas.lead import Lead
from streams.enrich import H3Cells
from streams.features.density import DensityWindow
from streams.features.store import Features

NOISE = 0
RECLUSTER_LEADS_PER_CELL = 4  # recluster after at least this many leads per live cell


@lru_cache(maxsize=1 << 18)
def _parent7(cell_r8: int) -> int:
    return h3.cell_to_parent(cell_r8, 7)


@lru_cache(maxsize=1 << 16)
def _adjacent(cell: int) -> tuple[int, ...]:
    return tuple(c for c in h3.grid_disk(cell, 1) if c != cell)


def clusters_of(weights: dict[int, int], min_leads: int) -> dict[int, tuple[int, int]]:
    """Cell → (cluster id, cluster size) for the core and border cells of `weights`."""
    core = {cell for cell, leads in weights.items() if leads >= min_leads}
    found: dict[int, tuple[int, int]] = {}
    seen: set[int] = set()
    for start in sorted(core):
        if start in seen:
            continue
        members, frontier = [start], [start]
        seen.add(start)
        while frontier:
            cell = frontier.pop()
            for nxt in _adjacent(cell):
                if nxt in core and nxt not in seen:
                    seen.add(nxt)
                    members.append(nxt)
                    frontier.append(nxt)
        border = {c for cell in members for c in _adjacent(cell) if c not in core}
        size = sum(weights[c] for c in members) + sum(weights.get(c, 0) for c in border)
        cluster_id = max(members, key=lambda c: (weights[c], -c))
        for cell in members:
            found[cell] = (cluster_id, size)
        for cell in border:
            # A border cell between two clusters joins the bigger one.
            if cell not in found or found[cell][1] < size:
                found[cell] = (cluster_id, size)
    return found


class LeadClusters:
    """Cluster id and size of a lead's area, from the density window's recent leads."""

    def __init__(self, density: DensityWindow, *, min_leads: int = 3,
                 recluster_every: int = 2_000) -> None:
        self.density = density
        self.min_leads = min_leads
        self.recluster_every = recluster_every
        self._by_cell: dict[int, tuple[int, int]] = {}
        self._since = 0
        self._due = 0  # 0: recluster at the next observe (fresh or just restored)

    def recluster(self, now_ms: int) -> int:
        """Rebuild the clusters from the window ending at `now_ms`; returns how many."""
        weights: dict[int, int] = defaultdict(int)
        live = 0
        for cell, leads in self.density.counts(now_ms):
            weights[_parent7(cell)] += leads
            live += 1
        self._by_cell = clusters_of(weights, self.min_leads)
        self._since = 0
        self._due = max(self.recluster_every, RECLUSTER_LEADS_PER_CELL * live)
        return len({cluster for cluster, _ in self._by_cell.values()})

    def cluster_of(self, lead: Lead, cells: H3Cells) -> int:
        """The lead's cluster id (a res-7 H3 index), or 0 for noise and unlocated leads."""
        found = self._by_cell.get(cells.r7)
        return NOISE if found is None else found[0]

    def features(self, lead: Lead, cells: H3Cells, now_ms: int) -> Features:
        found = self._by_cell.get(cells.r7) if cells.r7 else None
        return {"clu_size": 0.0 if found is None else log1p(found[1])}

    def observe(self, lead: Lead, cells: H3Cells, now_ms: int) -> None:
        """Count a lead (the density window counts it); recluster when due."""
        self._since += 1
        if self._since >= self._due:
            self.recluster(now_ms)
