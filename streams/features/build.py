"""The stateful feature stores the ingest stage reads, built one way for the worker,
`aiqleads evaluate` and the benchmarks, so all three score with the same features."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.market import CompetitorOffice
from streams.features.behaviour import BehaviourBook
from streams.features.market_stores import MarketStores
from streams.features.store import LeadFeatureStore


@dataclass(frozen=True, slots=True)
class FeatureStores:
    behaviour: BehaviourBook
    market: MarketStores

    @property
    def all(self) -> Sequence[LeadFeatureStore]:
        """In the order `ingest_one` reads them."""
        return (self.behaviour, self.market)


def feature_stores(
    *,
    session_gap_minutes: float = 30.0,
    density_window_hours: float = 24.0,
    competitor_radius_km: float = 5.0,
    market_half_life_hours: float = 168.0,
    offices: list[CompetitorOffice] | None = None,
) -> FeatureStores:
    """Empty stores (the competitor index seeded with `offices`)."""
    return FeatureStores(
        behaviour=BehaviourBook(session_gap_minutes=session_gap_minutes),
        market=MarketStores.create(
            density_window_hours=density_window_hours,
            competitor_radius_km=competitor_radius_km,
            market_half_life_hours=market_half_life_hours,
            offices=offices,
        ),
    )
