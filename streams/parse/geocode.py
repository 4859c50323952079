"""Offline US geocoding from the bundled `zipcodes` data, and the service-area check.

Contract:
- `zip_place` / `city_point` look up plain dicts built once, lazily, on first use (~1 s;
  call `warm()` at worker start so no event pays it). Lookups are a dict get.
- ZIPs the data places at 0,0 (unknown) are left out. A city's point is the mean of
  its ZIP centroids; names match case- and punctuation-insensitively, with
  "St"/"Ft"/"Mt" read as "Saint"/"Fort"/"Mount".
- `locate` picks the best location a source gave: coordinates ("exact") > ZIP ("zip")
  > city and state ("city") > nothing ("none"). It never raises; impossible coordinates
  are left for `streams.validate` to reject. Address lookups are memoised (LRU, 16k):
  leads cluster in markets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from math import isfinite
from typing import Any, NamedTuple

import zipcodes

from schemas.lead import LocationPrecision
from streams.parse.contact import clean_name


class ZipPlace(NamedTuple):
    lat: float
    lon: float
    city: str
    state: str


class Location(NamedTuple):
    lat: float | None
    lon: float | None
    city: str | None
    state: str | None
    zip: str | None
    precision: LocationPrecision


NOWHERE = Location(None, None, None, None, None, "none")

_zips: dict[str, ZipPlace] = {}
_cities: dict[tuple[str, str], tuple[float, float]] = {}


def warm() -> None:
    """Build the lookup tables now (idempotent)."""
    if _zips:
        return
    zips: dict[str, ZipPlace] = {}
    primary: dict[tuple[str, str], list[float]] = {}
    alternate: dict[tuple[str, str], list[float]] = {}
    for entry in _zip_entries():
        try:
            lat, lon = float(entry["lat"]), float(entry["long"])
        except (TypeError, ValueError):
            continue
        if lat == 0.0 and lon == 0.0:
            continue  # ~45 ZIPs (unique, PO box, APO) carry 0,0 for "unknown"; they'd skew cities
        state = entry["state"]
        zips[entry["zip_code"]] = ZipPlace(lat, lon, entry["city"], state)
        _accumulate(primary, (city_key(entry["city"]), state), lat, lon)
        for other in entry.get("acceptable_cities") or ():
            _accumulate(alternate, (city_key(other), state), lat, lon)
    # A neighbourhood name ("Hollywood") only counts where it is not itself a city.
    for key, sums in (*alternate.items(), *primary.items()):
        _cities[key] = (sums[0] / sums[2], sums[1] / sums[2])
    _zips.update(zips)  # last: a half-built table must not look built


def _zip_entries() -> Iterator[dict[str, Any]]:
    # `zipcodes.list_all()` keeps all 42k rich dicts alive for good (~140 MB resident);
    # a prefix at a time they come and go (~40 MB, most of it allocator slack).
    for prefix in range(100):
        yield from zipcodes.similar_to(f"{prefix:02d}")


def _accumulate(
    sums: dict[tuple[str, str], list[float]], key: tuple[str, str], lat: float, lon: float
) -> None:
    total = sums.setdefault(key, [0.0, 0.0, 0.0])
    total[0] += lat
    total[1] += lon
    total[2] += 1.0


_NOT_WORD = re.compile(r"[^\w]+")
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "ft": "fort", "mt": "mount"}


def city_key(city: str) -> str:
    """A matching key for city names: "St. Louis" and "SAINT LOUIS" → "saint louis"."""
    words = _NOT_WORD.sub(" ", city.casefold()).split()
    if words:
        words[0] = _ABBREVIATIONS.get(words[0], words[0])
    return " ".join(words)


def zip_place(zip5: str) -> ZipPlace | None:
    """The centroid, city and state of a five-digit ZIP, or None for an unknown ZIP."""
    if not _zips:
        warm()
    return _zips.get(zip5)


def city_point(city: str, state: str) -> tuple[float, float] | None:
    """(lat, lon) of a city in a two-letter state, or None when the pair is unknown."""
    if not _zips:
        warm()
    return _cities.get((city_key(city), state))


_ZIP = re.compile(r"(\d{5})(?:[ -]?\d{4})?", re.ASCII)


def normalize_zip(value: object) -> str | None:
    """Five-digit ZIP from "78701", "78701-1234" or 2134 (a number that lost its zero); else None.

    >>> normalize_zip(" 78701-1234 "), normalize_zip(2134)
    ('78701', '02134')
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 100_000:
        return f"{value:05d}"
    if not isinstance(value, str):
        return None
    if len(value) == 5 and value.isascii() and value.isdigit():
        return value
    found = _ZIP.fullmatch(value.strip())
    return found.group(1) if found is not None else None


# fmt: off
STATE_NAMES: dict[str, str] = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
    "washington dc": "DC", "washington d c": "DC", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA",
    "kansas": "KS", "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD",
    "massachusetts": "MA", "michigan": "MI", "minnesota": "MN", "mississippi": "MS",
    "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV", "new hampshire": "NH",
    "new jersey": "NJ", "new mexico": "NM", "new york": "NY", "north carolina": "NC",
    "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN",
    "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA",
    "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY", "puerto rico": "PR",
    "guam": "GU", "us virgin islands": "VI", "virgin islands": "VI", "american samoa": "AS",
    "northern mariana islands": "MP",
}
# fmt: on
STATE_CODES: frozenset[str] = frozenset(STATE_NAMES.values())


def normalize_state(value: object) -> str | None:
    """Two-letter USPS code from "tx", "Texas", "TEXAS"; None when not a US state or territory."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) == 2:
        code = text.upper()
        return code if code in STATE_CODES else None
    return STATE_NAMES.get(" ".join(_NOT_WORD.sub(" ", text.casefold()).split()))


# (lat_min, lat_max, lon_min, lon_max); generous by a few km so coastal ZIPs stay inside.
_US_AREAS: tuple[tuple[float, float, float, float], ...] = (
    (24.3, 49.6, -125.0, -66.8),  # contiguous states
    (51.0, 71.6, -180.0, -129.9),  # Alaska
    (51.0, 53.1, 172.0, 180.0),  # Alaska: the Aleutians west of the antimeridian
    (18.8, 22.4, -160.6, -154.6),  # Hawaii
    (17.8, 18.6, -68.0, -65.2),  # Puerto Rico with Vieques and Culebra
)


def in_us_area(lat: float, lon: float) -> bool:
    """Whether a point lies in the service area: contiguous US, Alaska, Hawaii, Puerto Rico.

    Bounding boxes, so a little of Canada and Mexico counts as inside; NaN is outside.
    """
    for lat_min, lat_max, lon_min, lon_max in _US_AREAS:
        if lat_min <= lat <= lat_max and lon_min <= lon <= lon_max:
            return True
    return False


def locate(
    lat: float | None, lon: float | None, zip_code: object, city: object, state: object
) -> Location:
    """The best location from what a source sent (coordinates, ZIP, city/state); never raises."""
    try:
        where = _locate_address(zip_code, city, state)
    except TypeError:  # unhashable junk; parsers pass scalars, but stay total
        where = _locate_address.__wrapped__(zip_code, city, state)
    if lat is not None and lon is not None and isfinite(lat) and isfinite(lon):
        return Location(lat, lon, where.city, where.state, where.zip, "exact")
    return where


# typed: a ZIP of 1 and of True are different answers.
@lru_cache(maxsize=16384, typed=True)
def _locate_address(zip_code: object, city: object, state: object) -> Location:
    zip5 = normalize_zip(zip_code)
    city_name = clean_name(city) or None
    state_code = normalize_state(state)
    place = zip_place(zip5) if zip5 is not None else None
    if place is not None:
        # Fill what the source left out; what it did say wins.
        return Location(
            place.lat, place.lon, city_name or place.city, state_code or place.state, zip5, "zip"
        )
    if city_name is not None and state_code is not None:
        point = city_point(city_name, state_code)
        if point is not None:
            return Location(point[0], point[1], city_name, state_code, zip5, "city")
    return Location(None, None, city_name, state_code, zip5, "none")
