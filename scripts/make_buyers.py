"""Build the bundled buyer profiles, `schemas/buyers.json`, deterministically.

Buyers are agents and brokers placed the way the traffic generator places leads:
their home cities are drawn by population from the same gazetteer
(`streams.traffic.places`), so buyers are where leads are. Each works a farm area:
the ZIPs nearest their office within a radius (a few for a solo agent, dozens for
a team), as the res-7 cells around those ZIP centroids (one ring: leads scatter
about a kilometre around their ZIP). Price bands follow the local median price;
property types, intents and budgets follow a handful of buyer profiles.

Ids are ``buyer-0001`` … ``buyer-0499``: the ids the generator's purchase outcomes
use (`streams.traffic.ground_truth.draw_outcome`).

Run: ``.venv/bin/python scripts/make_buyers.py [--seed N] [--out PATH]``; the same
seed gives the same file byte for byte.
"""

from __future__ import annotations

import argparse
import math
import random
import re
from collections import defaultdict
from pathlib import Path

import h3.api.basic_int as h3
import msgspec

from schemas.market import Buyer
from streams.serve.fit import distance_km
from streams.traffic.people import FIRST_NAMES, LAST_NAMES
from streams.traffic.places import Gazetteer, Place, Zip
from streams.traffic.sampling import Weighted, between, pick

SEED = 20_250_601
COUNT = 499
OUT = Path(__file__).resolve().parents[1] / "schemas" / "buyers.json"

# (radius km, most ZIPs): solo agents farm a neighbourhood, teams a slice of a metro.
_REACH = Weighted([((8.0, 6), 0.3), ((12.0, 12), 0.35), ((20.0, 24), 0.25), ((35.0, 40), 0.1)])
# Price band as multiples of the local median home value; 0 = open-ended.
_BANDS = Weighted([("entry", 0.3), ("mid", 0.35), ("luxury", 0.1), ("any", 0.25)])
_BAND_RANGE = {"entry": (0.3, 1.1), "mid": (0.6, 1.8), "luxury": (1.4, 0.0), "any": (0.0, 0.0)}
_BUDGET = {"entry": (35, 70), "mid": (60, 110), "luxury": (100, 200), "any": (50, 150)}
_NO_BUDGET_LIMIT = 0.15
_TYPES = Weighted([
    (("single_family", "condo", "townhouse"), 0.45),
    ((), 0.25),  # any type
    (("single_family",), 0.12),
    (("condo", "townhouse"), 0.10),
    (("multi_family", "single_family", "land"), 0.08),  # investors
])
_INTENTS = Weighted([
    (("buy", "sell"), 0.55), (("buy",), 0.2), (("sell",), 0.15), (("rent",), 0.05),
    (("buy", "sell", "rent"), 0.05),
])
_BROKERAGES_PER_CITY = 3
_GRID_DEG = 0.5  # bucket size of the ZIP lookup grid


def _round_price(value: float) -> float:
    return float(round(value / 5_000) * 5_000)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class _ZipGrid:
    """ZIPs bucketed by half a degree, for 'ZIPs within r km of a point'."""

    def __init__(self, places: list[Place]) -> None:
        self._cells: dict[tuple[int, int], list[Zip]] = defaultdict(list)
        for place in places:
            for z in place.zips:
                self._cells[self._key(z.lat, z.lon)].append(z)

    @staticmethod
    def _key(lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / _GRID_DEG), math.floor(lon / _GRID_DEG))

    def near(self, lat: float, lon: float, radius_km: float) -> list[tuple[float, Zip]]:
        row, col = self._key(lat, lon)
        found = []
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                for z in self._cells.get((row + dr, col + dc), ()):
                    d = distance_km(lat, lon, z.lat, z.lon)
                    if d <= radius_km:
                        found.append((d, z))
        return sorted(found, key=lambda dz: (dz[0], dz[1].code))


def build_buyers(seed: int = SEED, count: int = COUNT) -> list[Buyer]:
    rng = random.Random(seed)
    gazetteer = Gazetteer.load()
    grid = _ZipGrid(gazetteer.places)
    buyers = []
    for number in range(1, count + 1):
        place, anchor = gazetteer.sample(rng)
        radius, most = _REACH(rng)
        nearest = grid.near(anchor.lat, anchor.lon, radius)
        farm = [z for _, z in nearest[: between(rng, (most + 1) // 2, most)]]
        cells = sorted({cell for z in farm
                        for cell in h3.grid_disk(h3.latlng_to_cell(z.lat, z.lon, 7), 1)})
        band = _BANDS(rng)
        low, high = _BAND_RANGE[band]
        low_budget, high_budget = _BUDGET[band]
        budget = 0.0 if rng.random() < _NO_BUDGET_LIMIT else float(
            round(between(rng, low_budget, high_budget), -1))
        first, last = pick(rng, FIRST_NAMES)[0], pick(rng, LAST_NAMES)[0]
        brokerage = between(rng, 1, _BROKERAGES_PER_CITY)
        buyers.append(Buyer(
            buyer_id=f"buyer-{number:04d}",
            brokerage_id=f"brk-{place.state.lower()}-{_slug(place.city)}-{brokerage}",
            name=f"{first} {last}",
            cells_r7=cells,
            # The office: near the first ZIP of the farm.
            home_lat=round(anchor.lat + rng.gauss(0.0, 0.005), 5),
            home_lon=round(anchor.lon + rng.gauss(0.0, 0.005), 5),
            price_min=_round_price(low * place.median_price),
            price_max=_round_price(high * place.median_price),
            property_types=list(_TYPES(rng)),
            intents=list(_INTENTS(rng)),
            budget_per_lead=budget,
            tier="premium" if number % 5 == 1 else "standard",  # one in five pays for priority
        ))
    return buyers


def render(buyers: list[Buyer]) -> bytes:
    """One buyer a line, so a regenerated file diffs by buyer."""
    lines = b",\n".join(msgspec.json.encode(buyer) for buyer in buyers)
    return b"[\n" + lines + b"\n]\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    blob = render(build_buyers(args.seed, args.count))
    args.out.write_bytes(blob)
    print(f"{args.count} buyers, {len(blob) / 1024:.0f} KiB → {args.out}")


if __name__ == "__main__":
    main()
