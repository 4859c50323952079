"""Competing brokerage offices near a lead: distance to the nearest and how many within a radius.

Contract:
- `load_competitors(path)` reads an office file (None: the bundled
  `schemas/competitors.json`, made by `scripts/make_competitors.py`).
- `CompetitorIndex.apply(office)` takes an update from `market.competitors`: a
  newer (`updated_ms`) version of an office replaces the old one, `active=False`
  retires it. `seed(offices)` adds the file's offices under ids the index does not
  know yet, so an office retired on the topic stays retired after a restart.
  Only topic updates are persisted (key office_id, value the office as JSON,
  retired ones kept as tombstones); the seed file is re-read at every start.
- Features (`comp_`): `comp_nearest_km` = log1p(km to the nearest office, capped
  at `cap_km`), `comp_within_radius` = log1p(offices within `radius_km`),
  `comp_brokerages_within` = log1p(distinct brokerages within `radius_km`).
  Unlocated leads, and leads with nothing within the cap, get the cap and zeros.
  Distances are great-circle (haversine) km; the radius count uses a local flat
  projection of the lead's res-7 cell, within 0.1 % of haversine at these ranges.

How it stays cheap: the active offices sit in a k-d tree of points on the unit sphere
(scipy's `cKDTree`: a straight-line distance there orders offices as the great circle
does). The first lead in a res-7 cell asks it for the offices within the radius band of
the cell (one ball query, ~4 µs), widens the ball only when the nearest office lies
further out, and caches what any point of the cell needs, projected onto the cell's
plane; every later lead there compares a handful of squared distances. An office change
empties the cache and rebuilds the tree at the next new cell (~2 ms for the bundled
3,188 offices; offices change rarely). Until 2026-12-07 the offices sat in H3 buckets
searched ring by ring: the same answers (a bench run's 60,000 leads and 500 random points
on the globe compared), 47-76 µs a new cell against 25.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import h3.api.basic_int as h3
import msgspec
import numpy as np
from scipy.spatial import cKDTree

from schemas.lead import Lead
from schemas.market import CompetitorOffice
from streams.enrich import H3Cells
from streams.errors import AIQLeadsError
from streams.features.store import DirtyKeys, Features

FORMAT = "aiqleads.competitors/1"
EARTH_RADIUS_KM = 6371.007180918475  # H3's, so distances agree with h3.great_circle_distance
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180
# Flat distances on a cell's plane are within 0.5 % of haversine out to the cap; bounds
# and band edges get this slack so the projection never drops an office it needs.
_FLAT_SLACK = 1.01
_CACHE_CELLS = 1 << 16
_NO_OFFICES: dict[str, CompetitorOffice] = {}


class CompetitorDataError(AIQLeadsError, ValueError):
    """The competitor office file is unreadable or not in the expected format."""


class _File(msgspec.Struct):
    offices: list[CompetitorOffice]
    format: str = FORMAT


def load_competitors(path: Path | None = None) -> list[CompetitorOffice]:
    """The offices in `path` (JSON), or the bundled ones when `path` is None."""
    where = str(path) if path is not None else "bundled schemas/competitors.json"
    try:
        raw = path.read_bytes() if path is not None else _bundled()
        parsed = msgspec.json.decode(raw, type=_File)
    except (OSError, msgspec.DecodeError) as exc:
        raise CompetitorDataError(f"{where}: {exc}") from None
    if parsed.format != FORMAT:
        raise CompetitorDataError(f"{where}: format {parsed.format!r}, expected {FORMAT!r}")
    return parsed.offices


def _bundled() -> bytes:
    return files("schemas").joinpath("competitors.json").read_bytes()


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km.

    >>> round(haversine_km(40.7128, -74.0060, 34.0522, -118.2437))
    3936
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _extent(cell: int) -> tuple[float, float, float]:
    """(lat, lon, km from the centre to the furthest vertex, with slack) of an H3 cell."""
    lat, lon = h3.cell_to_latlng(cell)
    kx = KM_PER_DEGREE * math.cos(math.radians(lat))
    furthest = max(math.hypot((vlon - lon) * kx, (vlat - lat) * KM_PER_DEGREE)
                   for vlat, vlon in h3.cell_to_boundary(cell))
    return lat, lon, furthest * _FLAT_SLACK


def _unit(lat: float, lon: float) -> tuple[float, float, float]:
    """The point on the unit sphere at (lat, lon) degrees."""
    phi, lam = math.radians(lat), math.radians(lon)
    return math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)


def _chord(km: float) -> float:
    """The straight-line distance on the unit sphere of a great-circle distance of `km`."""
    return 2 * math.sin(min(km / EARTH_RADIUS_KM, math.pi) / 2)


@dataclass(frozen=True, slots=True)
class _Near:
    """What a res-7 cell needs: candidates projected on its plane (x, y km from its centre)."""

    lat0: float
    lon0: float
    kx: float  # km per degree of longitude at the cell's latitude
    nearest: tuple[tuple[float, float, CompetitorOffice], ...]
    sure: int  # offices within the radius of every point of the cell
    sure_brokerages: frozenset[str]
    edge: tuple[tuple[float, float, str], ...]  # within the radius of some points only


class CompetitorIndex:
    """Active competitor offices, searchable by distance; also a `LeadFeatureStore`."""

    def __init__(self, radius_km: float = 5.0, cap_km: float = 50.0) -> None:
        if not 0 < radius_km <= cap_km:
            raise ValueError("need 0 < radius_km <= cap_km")
        self.radius_km = radius_km
        self.cap_km = cap_km
        self._offices: dict[str, CompetitorOffice] = {}  # retired ones too (tombstones)
        self._active: dict[str, CompetitorOffice] = {}
        self._tree: cKDTree | None = None  # of `_listed`, built when a new cell needs it
        self._listed: list[CompetitorOffice] = []
        self._near: dict[int, _Near] = {}
        self._dirty = DirtyKeys()
        self._neutral: Features = {"comp_nearest_km": math.log1p(cap_km),
                                   "comp_within_radius": 0.0, "comp_brokerages_within": 0.0}

    def __len__(self) -> int:
        """Active offices."""
        return len(self._active)

    def get(self, office_id: str) -> CompetitorOffice | None:
        return self._offices.get(office_id)

    # --- updates ---------------------------------------------------------------------

    def apply(self, office: CompetitorOffice) -> bool:
        """Take a topic update; False when it is older than what the index has."""
        if not self._put(office):
            return False
        self._dirty.touch(office.office_id)
        return True

    def seed(self, offices: list[CompetitorOffice]) -> int:
        """Add offices under ids not seen yet (the topic's word wins); returns how many."""
        added = 0
        for office in offices:
            if office.office_id not in self._offices:
                added += self._put(office)
        return added

    def _put(self, office: CompetitorOffice) -> bool:
        old = self._offices.get(office.office_id)
        if old is not None and office.updated_ms < old.updated_ms:
            return False
        if old == office:
            return True
        if office.active and not (math.isfinite(office.lat) and math.isfinite(office.lon)
                                  and -90 <= office.lat <= 90 and -180 <= office.lon <= 180):
            raise ValueError(f"office {office.office_id}: no usable location")
        self._offices[office.office_id] = office
        if office.active:
            self._active[office.office_id] = office
        else:
            self._active.pop(office.office_id, None)
        self._tree = None
        self._near.clear()
        return True

    # --- queries ---------------------------------------------------------------------

    def _gather(self, cell_r7: int) -> _Near:
        lat0, lon0, spread = _extent(cell_r7)
        kx = KM_PER_DEGREE * math.cos(math.radians(lat0))
        reach = (self.cap_km + spread) * _FLAT_SLACK  # nothing beyond counts for any point
        band = (self.radius_km + spread) * _FLAT_SLACK
        found = self._search(lat0, lon0, kx, reach, band, spread)
        best = min((d for d, _ in found), default=math.inf)

        def xy(office: CompetitorOffice) -> tuple[float, float]:
            return (office.lon - lon0) * kx, (office.lat - lat0) * KM_PER_DEGREE

        inner = (self.radius_km - spread) / _FLAT_SLACK
        sure = [o for d, o in found if d <= inner]
        return _Near(
            lat0=lat0, lon0=lon0, kx=kx,
            nearest=tuple((*xy(o), o) for d, o in found
                          if d <= best * _FLAT_SLACK + 2 * spread),
            sure=len(sure),
            sure_brokerages=frozenset(o.brokerage for o in sure),
            edge=tuple((*xy(o), o.brokerage) for d, o in found if inner < d <= band),
        )

    def _search(self, lat0: float, lon0: float, kx: float, reach: float, band: float,
                spread: float) -> list[tuple[float, CompetitorOffice]]:
        """(flat km, office) within `reach`, at least every office that is within the
        radius of some point of the cell or may be the nearest to one."""
        if self._tree is None:
            if not self._active:
                return []
            self._listed = list(self._active.values())
            self._tree = cKDTree(np.array([_unit(o.lat, o.lon) for o in self._listed]))
        tree, listed, centre = self._tree, self._listed, _unit(lat0, lon0)
        hypot, ky = math.hypot, KM_PER_DEGREE

        def ball(km: float) -> list[tuple[float, CompetitorOffice]]:
            # Flat km are within 0.5 % of great-circle km out to the cap: each ball gets
            # `_FLAT_SLACK` more, so it never misses an office its flat bound takes.
            hits = []
            for i in tree.query_ball_point(centre, _chord(km * _FLAT_SLACK)):
                office = listed[i]
                d = hypot((office.lon - lon0) * kx, (office.lat - lat0) * ky)
                if d <= reach:
                    hits.append((d, office))
            return hits

        found = ball(band)
        if found:
            best = min(d for d, _ in found)
        else:  # nothing within the band: how far is the nearest office?
            chord, _ = tree.query(centre)
            best = 2 * EARTH_RADIUS_KM * math.asin(min(1.0, chord / 2)) * _FLAT_SLACK
            if best > reach * _FLAT_SLACK:
                return []
        # Any point of the cell may be nearest to an office up to 2 spreads further out.
        needed = max(min(best * _FLAT_SLACK + 2 * spread, reach), band)
        return ball(needed) if needed > band else found

    def _near_of(self, cell_r7: int) -> _Near:
        near = self._near.get(cell_r7)
        if near is None:
            if len(self._near) >= _CACHE_CELLS:
                self._near.clear()
            near = self._near[cell_r7] = self._gather(cell_r7)
        return near

    def nearest(
        self, lat: float, lon: float, cell_r7: int
    ) -> tuple[float, CompetitorOffice | None]:
        """(km, office) of the nearest active office within the cap; (cap, None) if none."""
        near = self._near_of(cell_r7)
        if not near.nearest:
            return self.cap_km, None
        x, y = (lon - near.lon0) * near.kx, (lat - near.lat0) * KM_PER_DEGREE
        best, office = math.inf, near.nearest[0][2]
        for ox, oy, candidate in near.nearest:
            d2 = (ox - x) * (ox - x) + (oy - y) * (oy - y)
            if d2 < best:
                best, office = d2, candidate
        return min(self.cap_km, haversine_km(lat, lon, office.lat, office.lon)), office

    def within(self, lat: float, lon: float, cell_r7: int) -> tuple[int, int]:
        """(offices, distinct brokerages) within the radius of a point in `cell_r7`."""
        near = self._near_of(cell_r7)
        if not near.edge:
            return near.sure, len(near.sure_brokerages)
        x, y = (lon - near.lon0) * near.kx, (lat - near.lat0) * KM_PER_DEGREE
        r2 = self.radius_km * self.radius_km
        hits = [b for ox, oy, b in near.edge if (ox - x) ** 2 + (oy - y) ** 2 <= r2]
        if not hits:
            return near.sure, len(near.sure_brokerages)
        return near.sure + len(hits), len(near.sure_brokerages.union(hits))

    def features(self, lead: Lead, cells: H3Cells, now_ms: int) -> Features:
        lat, lon = lead.lat, lead.lon
        if not cells.r7 or lat is None or lon is None:
            return dict(self._neutral)
        km, _ = self.nearest(lat, lon, cells.r7)
        count, brokerages = self.within(lat, lon, cells.r7)
        return {"comp_nearest_km": math.log1p(km), "comp_within_radius": math.log1p(count),
                "comp_brokerages_within": math.log1p(brokerages)}

    def observe(self, lead: Lead, cells: H3Cells, now_ms: int) -> None:
        """Leads do not change where offices are."""

    # --- persistence -----------------------------------------------------------------

    def take_dirty(self) -> list[str]:
        return self._dirty.take()

    def export(self, key: str) -> Any | None:
        office = self._offices.get(key)
        return None if office is None else msgspec.to_builtins(office)

    def restore(self, key: str, value: Any) -> None:
        self._put(msgspec.convert(value, CompetitorOffice))
