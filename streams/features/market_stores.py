"""The geospatial and market-context feature stores behind one pair of calls for the ingest stage.

Contract:
- `features(lead, cells, now_ms)` merges the `geo_`, `comp_`, `clu_`, `mkt_` and
  `pen_` features (16 finite floats; fixed neutral values for unlocated leads);
  call it *before* `observe(lead, cells, now_ms)`, which counts the lead.
- `observe_interaction(interaction)` feeds buyer interactions to the market book
  (active buyers) and the penetration book (purchases).
- `cluster_of(lead, cells)` gives the lead's cluster id for ranking and reasons.
- `tables()` names the persistent stores by their Faust table (`<measure>_by_<key>`);
  the clustering has no table of its own (it is derived from `density_by_cell`).
- `sweep(now_ms)` forgets faded state; call it every few minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.lead import Lead
from schemas.market import BuyerInteraction, CompetitorOffice
from streams.enrich import H3Cells
from streams.features.clustering import LeadClusters
from streams.features.competitors import CompetitorIndex
from streams.features.density import DensityWindow
from streams.features.market import MarketBook
from streams.features.penetration import PenetrationBook
from streams.features.store import Features, Persistent


@dataclass(slots=True)
class MarketStores:
    density: DensityWindow
    competitors: CompetitorIndex
    clusters: LeadClusters
    market: MarketBook
    penetration: PenetrationBook

    @classmethod
    def create(
        cls,
        *,
        density_window_hours: float = 24.0,
        competitor_radius_km: float = 5.0,
        market_half_life_hours: float = 168.0,
        offices: list[CompetitorOffice] | None = None,
    ) -> MarketStores:
        """Empty stores (the competitor index seeded with `offices`)."""
        density = DensityWindow(density_window_hours)
        competitors = CompetitorIndex(radius_km=competitor_radius_km)
        competitors.seed(offices or [])
        return cls(
            density=density,
            competitors=competitors,
            clusters=LeadClusters(density),
            market=MarketBook(market_half_life_hours),
            penetration=PenetrationBook(market_half_life_hours),
        )

    def features(self, lead: Lead, cells: H3Cells, now_ms: int) -> Features:
        x = self.density.features(lead, cells, now_ms)
        x.update(self.competitors.features(lead, cells, now_ms))
        x.update(self.clusters.features(lead, cells, now_ms))
        x.update(self.market.features(lead, cells, now_ms))
        x.update(self.penetration.features(lead, cells, now_ms))
        return x

    def observe(self, lead: Lead, cells: H3Cells, now_ms: int) -> None:
        self.density.observe(lead, cells, now_ms)
        self.clusters.observe(lead, cells, now_ms)  # after density: it reclusters from it
        self.market.observe(lead, cells, now_ms)
        self.penetration.observe(lead, cells, now_ms)

    def observe_interaction(self, interaction: BuyerInteraction) -> bool:
        """Feed one buyer interaction; False when no store could use it (no cell)."""
        active = self.market.observe_interaction(interaction)
        bought = self.penetration.observe_interaction(interaction)
        return active or bought

    def cluster_of(self, lead: Lead, cells: H3Cells) -> int:
        return self.clusters.cluster_of(lead, cells)

    def sweep(self, now_ms: int) -> int:
        return self.density.sweep(now_ms) + self.market.sweep(now_ms) + self.penetration.sweep(
            now_ms)

    def tables(self) -> dict[str, tuple[Persistent, str]]:
        """Faust table name → (store, help text)."""
        return {
            "density_by_cell": (self.density, "h3 res-8 cell → [[time bucket, leads], ...]"),
            "competitors_by_office": (self.competitors,
                                      "office_id → competitor office from market.competitors"),
            "market_by_cell": (self.market,
                               "h3 res-7/res-5 cell, 'global', 'types' → market statistics"),
            "penetration_by_cell": (self.penetration,
                                    "h3 res-7 cell → decayed leads and purchases by buyer"),
        }
