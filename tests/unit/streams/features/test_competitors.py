from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from pathlib import Path

import h3.api.basic_int as h3
import numpy as np
import pytest

from schemas.lead import Lead
from schemas.market import CompetitorOffice
from streams.enrich import NO_CELLS, h3_cells
from streams.features.competitors import (
    CompetitorDataError,
    CompetitorIndex,
    haversine_km,
    load_competitors,
)
from streams.traffic.places import Gazetteer

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _lead(lat: float | None, lon: float | None) -> Lead:
    return Lead(lead_id="x", source="portal", source_lead_id="x", event_time=NOW,
                received_time=NOW, lat=lat, lon=lon,
                location_precision="none" if lat is None else "exact")


def _office(office_id: str, lat: float, lon: float, brokerage: str = "Acme",
            **kw: object) -> CompetitorOffice:
    return CompetitorOffice(office_id=office_id, brokerage=brokerage, lat=lat, lon=lon, **kw)


def _nearest(index: CompetitorIndex, lat: float, lon: float) -> float:
    return index.nearest(lat, lon, h3_cells(lat, lon).r7)[0]


def _brute_force_km(lat: float, lon: float, offices: list[CompetitorOffice]) -> np.ndarray:
    """Haversine to every office, vectorised (independent of the index's own code)."""
    lats = np.radians([o.lat for o in offices])
    lons = np.radians([o.lon for o in offices])
    p = math.radians(lat)
    a = (np.sin((lats - p) / 2) ** 2
         + np.cos(p) * np.cos(lats) * np.sin((lons - math.radians(lon)) / 2) ** 2)
    return 2 * 6371.007180918475 * np.arcsin(np.sqrt(a))


@pytest.fixture(scope="module")
def offices() -> list[CompetitorOffice]:
    return load_competitors()


@pytest.fixture(scope="module")
def seeded(offices: list[CompetitorOffice]) -> CompetitorIndex:
    index = CompetitorIndex(radius_km=5.0, cap_km=50.0)
    index.seed(offices)
    return index


def test_haversine_agrees_with_h3() -> None:
    for a, b in [((40.71, -74.0), (34.05, -118.24)), ((30.27, -97.74), (30.3, -97.7))]:
        assert haversine_km(*a, *b) == pytest.approx(h3.great_circle_distance(a, b, "km"),
                                                     rel=1e-9)


def test_nearest_and_counts_match_a_brute_force_haversine(
    seeded: CompetitorIndex, offices: list[CompetitorOffice]
) -> None:
    rng = random.Random(7)
    places = Gazetteer.load().places
    # Around real places (dense and sparse), out to ~30 km from a ZIP centroid, and a few
    # spots with nothing within the cap (Nevada desert, the Gulf of Mexico).
    points = [(39.5, -116.5), (26.0, -90.0), (40.7128, -74.0060)]
    for _ in range(300):
        z = rng.choice(rng.choice(places).zips)
        points.append((z.lat + rng.gauss(0, 0.15), z.lon + rng.gauss(0, 0.15)))
    for lat, lon in points:
        distances = np.sort(_brute_force_km(lat, lon, offices))
        km, office = seeded.nearest(lat, lon, h3_cells(lat, lon).r7)
        if distances[0] <= 50.0:
            assert km == pytest.approx(distances[0], rel=1e-6, abs=1e-6)
            assert office is not None
        else:
            assert (km, office) == (50.0, None)
        if np.all(np.abs(distances - 5.0) > 0.02):  # the flat projection is exact enough
            count, _ = seeded.within(lat, lon, h3_cells(lat, lon).r7)
            assert count == int((distances <= 5.0).sum())


def test_distinct_brokerages_within_the_radius() -> None:
    index = CompetitorIndex(radius_km=5.0)
    index.seed([_office("a", 30.27, -97.74, "Acme"), _office("b", 30.28, -97.74, "Acme"),
                _office("c", 30.27, -97.75, "Best"), _office("d", 30.6, -97.74, "Far")])
    cells = h3_cells(30.27, -97.74)
    x = index.features(_lead(30.27, -97.74), cells, 0)
    assert math.expm1(x["comp_within_radius"]) == pytest.approx(3)
    assert math.expm1(x["comp_brokerages_within"]) == pytest.approx(2)
    assert math.expm1(x["comp_nearest_km"]) == pytest.approx(0.0, abs=1e-9)


def test_retire_removes_an_office_and_an_update_moves_it() -> None:
    index = CompetitorIndex()
    index.seed([_office("a", 30.27, -97.74), _office("b", 30.40, -97.74)])
    assert _nearest(index, 30.27, -97.74) == pytest.approx(0.0, abs=1e-9)
    assert index.apply(_office("a", 30.27, -97.74, active=False, updated_ms=5))
    assert len(index) == 1
    assert _nearest(index, 30.27, -97.74) == pytest.approx(haversine_km(30.27, -97.74, 30.4,
                                                                        -97.74))
    index.apply(_office("b", 30.30, -97.74, updated_ms=6))  # moved closer
    assert _nearest(index, 30.27, -97.74) == pytest.approx(haversine_km(30.27, -97.74, 30.3,
                                                                        -97.74))


def test_an_older_update_is_ignored() -> None:
    index = CompetitorIndex()
    index.apply(_office("a", 30.27, -97.74, active=False, updated_ms=10))
    assert not index.apply(_office("a", 30.27, -97.74, updated_ms=9))
    assert len(index) == 0


def test_the_seed_never_overrides_what_the_topic_said() -> None:
    index = CompetitorIndex()
    index.apply(_office("a", 30.27, -97.74, active=False, updated_ms=10))
    assert index.seed([_office("a", 30.27, -97.74), _office("b", 30.3, -97.7)]) == 1
    assert len(index) == 1
    assert index.take_dirty() == ["a"]  # seeds are re-read at start, never persisted


def test_export_restore_round_trip_keeps_offices_and_tombstones() -> None:
    index = CompetitorIndex()
    index.apply(_office("a", 30.27, -97.74, updated_ms=1))
    index.apply(_office("b", 30.30, -97.70, brokerage="Best", updated_ms=1))
    index.apply(_office("b", 30.30, -97.70, brokerage="Best", active=False, updated_ms=2))
    restored = CompetitorIndex()
    for key in index.take_dirty():
        restored.restore(key, index.export(key))
    restored.seed([_office("b", 30.30, -97.70)])  # the retired one stays retired
    lead, cells = _lead(30.29, -97.72), h3_cells(30.29, -97.72)
    assert restored.features(lead, cells, 0) == index.features(lead, cells, 0)
    assert len(restored) == 1


def test_unlocated_leads_and_empty_areas_get_the_cap() -> None:
    index = CompetitorIndex(cap_km=50.0)
    index.seed([_office("a", 30.27, -97.74)])
    neutral = {"comp_nearest_km": math.log1p(50.0), "comp_within_radius": 0.0,
               "comp_brokerages_within": 0.0}
    assert index.features(_lead(None, None), NO_CELLS, 0) == neutral
    assert index.features(_lead(47.6, -122.3), h3_cells(47.6, -122.3), 0) == neutral


def test_an_office_without_a_usable_location_is_refused() -> None:
    with pytest.raises(ValueError, match="location"):
        CompetitorIndex().apply(_office("a", math.nan, -97.74))


def test_the_bundled_offices_cover_the_generators_metros(seeded: CompetitorIndex,
                                                          offices: list[CompetitorOffice]) -> None:
    assert len(offices) > 2_000
    assert len({o.brokerage for o in offices}) >= 24
    assert len({o.office_id for o in offices}) == len(offices)
    metros = [p for p in Gazetteer.load().places if p.population >= 100_000]
    # Every metro has offices of its own, and leads (near its ZIP centroids) have one nearby.
    assert {(p.city, p.state) for p in metros} <= {(o.city, o.state) for o in offices}
    km = sorted(_nearest(seeded, z.lat, z.lon) for p in metros for z in p.zips)
    assert km[len(km) // 2] < 5.0
    assert km[-1] < 40.0
    # Denser in big metros: New York has far more offices around it than a small city.
    nyc = h3_cells(40.7128, -74.0060)
    assert seeded.within(40.7128, -74.0060, nyc.r7)[0] >= 10


def test_a_bad_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "offices.json"
    path.write_text('{"format": "other/9", "offices": []}')
    with pytest.raises(CompetitorDataError, match=r"offices\.json"):
        load_competitors(path)
    path.write_text("not json")
    with pytest.raises(CompetitorDataError, match=r"offices\.json"):
        load_competitors(path)
