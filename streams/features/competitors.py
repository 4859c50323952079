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

How it stays cheap: offices sit in H3 buckets (res 6, and res 4 for long
searches where offices are sparse). The first lead in a res-7 cell gathers, by
widening rings of buckets (each ring and its centres built once: neighbouring cells
search the same rings), the offices that can be nearest to
*any* point of the cell and those near the radius, and caches them projected
onto the cell's plane; every later lead there compares a handful of squared
distances. An office change empties the cache (offices change rarely).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import h3.api.basic_int as h3
import msgspec

from schemas.lead import Lead
from schemas.market import CompetitorOffice
from streams.enrich import H3Cells
from streams.errors import AIQLeadsError
from streams.features.store import DirtyKeys, Features

FORMAT = "aiqleads.competitors/1"
EARTH_RADIUS_KM = 6371.007180918475  # H3's, so distances agree with h3.great_circle_distance
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180
FINE_RES, FINE_RINGS = 6, 3  # ~3.7 km edges: a metro's res-7 cell looks at a few dozen offices
COARSE_RES = 4  # ~26 km edges: where offices are sparse
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


def _ring(bucket: int, k: int) -> list[int]:
    if k == 0:
        return [bucket]
    try:
        return h3.grid_ring(bucket, k)
    except Exception:  # pentagon distortion: the disk difference always works
        return list(set(h3.grid_disk(bucket, k)) - set(h3.grid_disk(bucket, k - 1)))


def _extent(cell: int) -> tuple[float, float, float]:
    """(lat, lon, km from the centre to the furthest vertex, with slack) of an H3 cell."""
    lat, lon = h3.cell_to_latlng(cell)
    kx = KM_PER_DEGREE * math.cos(math.radians(lat))
    furthest = max(math.hypot((vlon - lon) * kx, (vlat - lat) * KM_PER_DEGREE)
                   for vlat, vlon in h3.cell_to_boundary(cell))
    return lat, lon, furthest * _FLAT_SLACK


@lru_cache(maxsize=1 << 18)
def _centre(bucket: int) -> tuple[float, float, int]:
    return (*h3.cell_to_latlng(bucket), bucket)


@lru_cache(maxsize=1 << 16)
def _ring_centres(bucket: int, k: int) -> tuple[tuple[float, float, int], ...]:
    """(lat, lon, bucket) of each bucket `k` steps from `bucket`."""
    # Neighbouring res-7 cells search the same rings: each is built once (grid_ring and
    # the centres cost ~10-20 µs a ring, the lookup ~0.1 µs). Rings share their buckets'
    # centres: the bench's ~21,000 rings and their centres hold ~18 MB, not ~32.
    return tuple(map(_centre, _ring(bucket, k)))


@cache
def _radius_bound(res: int) -> float:
    # Measured: no cell reaches 1.11 average edges from its centre to a vertex (20k
    # random cells a resolution, all latitudes); 1.25 leaves room for pentagon neighbours.
    return 1.25 * h3.average_hexagon_edge_length(res, "km")


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
        self._fine: dict[int, dict[str, CompetitorOffice]] = {}  # H3 bucket → offices
        self._coarse: dict[int, dict[str, CompetitorOffice]] = {}
        self._near: dict[int, _Near] = {}
        self._dirty = DirtyKeys()
        self._neutral: Features = {"comp_nearest_km": math.log1p(cap_km),
                                   "comp_within_radius": 0.0, "comp_brokerages_within": 0.0}

    def __len__(self) -> int:
        """Active offices."""
        return sum(len(bucket) for bucket in self._coarse.values())

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
        for res, buckets in ((FINE_RES, self._fine), (COARSE_RES, self._coarse)):
            if old is not None and old.active:
                bucket = h3.latlng_to_cell(old.lat, old.lon, res)
                buckets[bucket].pop(old.office_id, None)
                if not buckets[bucket]:
                    del buckets[bucket]
            if office.active:
                bucket = h3.latlng_to_cell(office.lat, office.lon, res)
                buckets.setdefault(bucket, {})[office.office_id] = office
        self._near.clear()
        return True

    # --- queries ---------------------------------------------------------------------

    def _gather(self, cell_r7: int) -> _Near:
        lat0, lon0, spread = _extent(cell_r7)
        kx = KM_PER_DEGREE * math.cos(math.radians(lat0))
        reach = (self.cap_km + spread) * _FLAT_SLACK  # nothing beyond counts for any point
        band = (self.radius_km + spread) * _FLAT_SLACK
        # Fine buckets first (dense metros finish in a ring or two); where offices are
        # sparse, the coarse buckets reach the cap in a few rings instead of dozens.
        found = self._scan(self._fine, FINE_RES, lat0, lon0, kx, reach, band, spread,
                           max_rings=FINE_RINGS)
        if found is None:
            found = self._scan(self._coarse, COARSE_RES, lat0, lon0, kx, reach, band,
                               spread, max_rings=None) or []
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

    @staticmethod
    def _scan(
        buckets: dict[int, dict[str, CompetitorOffice]], res: int, lat0: float, lon0: float,
        kx: float, reach: float, band: float, spread: float, max_rings: int | None,
    ) -> list[tuple[float, CompetitorOffice]] | None:
        """(km, office) within `reach` that any point of the cell may need; None if out of rings.

        Distances are flat km on the cell's plane (`kx` km per degree of longitude), written
        out inline: this loop runs for every bucket and office near a new cell.
        """
        hypot, ky = math.hypot, KM_PER_DEGREE
        found: list[tuple[float, CompetitorOffice]] = []
        best = math.inf
        centre = h3.latlng_to_cell(lat0, lon0, res)
        bucket_radius = _radius_bound(res)
        k = 0
        while max_rings is None or k <= max_rings:
            # A bucket's offices are no closer than its centre less its radius; nearer
            # buckets first, so the nearest office is found early and prunes the rest.
            ring = sorted(
                (hypot((lon - lon0) * kx, (lat - lat0) * ky) / _FLAT_SLACK - bucket_radius, b)
                for lat, lon, b in _ring_centres(centre, k))
            for bound, b in ring:
                if bound > max(min(best * _FLAT_SLACK + 2 * spread, reach), band):
                    break
                for office in buckets.get(b, _NO_OFFICES).values():
                    d = hypot((office.lon - lon0) * kx, (office.lat - lat0) * ky)
                    if d <= reach:
                        found.append((d, office))
                        best = min(best, d)
            # Ring k encloses the cell, so everything beyond it is further than its closest
            # point: stop once that is past both the nearest-candidate bound and the band.
            if ring[0][0] > max(min(best * _FLAT_SLACK + 2 * spread, reach), band):
                return found
            k += 1
        return None

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
