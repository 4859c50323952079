"""Write the bundled competitor offices, schemas/competitors.json, deterministically.

Run: `.venv/bin/python scripts/make_competitors.py` (same output every time).

Offices sit in the same real US places the traffic generator draws leads from
(`streams.traffic.places.Gazetteer`): about `TOTAL` offices spread over cities in
proportion to population^0.9 (so big metros are denser, but not linearly), every
city of 100k or more gets at least one, each about half a kilometre around one
of the city's ZIP centroids. Brokerages are fictional: a dozen national brands
with a long-tailed market share and two dozen regional ones that only open
offices in their states, where they are strong.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import msgspec

from streams.features.competitors import FORMAT
from streams.traffic.places import Gazetteer

OUT = Path(__file__).resolve().parent.parent / "schemas" / "competitors.json"
SEED = 20_260_501
TOTAL = 3_200
SIZE_EXPONENT = 0.9
METRO_POPULATION = 100_000  # cities this big always have at least one office
REGIONAL_WEIGHT = 2.5  # a regional brand's pull at home, against the top national one at 1

NATIONAL: tuple[str, ...] = (
    "Keystone Realty", "Summit Crest Realty", "Harborview Properties", "Meridian Home Group",
    "BlueGate Realty", "Northstar Real Estate", "Cornerstone Realtors",
    "Evergreen Realty Partners", "Landmark Homes Realty", "Pinnacle Property Group",
    "Heritage House Realty", "Silverline Realty",
)  # fmt: skip

REGIONAL: dict[str, tuple[str, ...]] = {
    "Lone Star Home Realty": ("TX",),
    "Gulf Coast Realty Co.": ("TX", "LA", "MS", "AL", "FL"),
    "Sunshine State Realty": ("FL",),
    "Pacific Crest Realty": ("CA",),
    "Golden Bear Properties": ("CA",),
    "Cascadia Home Group": ("WA", "OR", "ID"),
    "Desert Sky Realty": ("AZ", "NV", "NM"),
    "Front Range Realty": ("CO", "WY", "UT"),
    "Empire Metro Realty": ("NY", "NJ", "CT"),
    "Liberty Bell Realty": ("PA", "NJ", "DE"),
    "Bay State Realty": ("MA", "NH", "RI", "ME", "VT"),
    "Chesapeake Realty Group": ("MD", "VA", "DC", "DE"),
    "Peachtree Realty": ("GA", "SC"),
    "Carolina Pines Realty": ("NC", "SC"),
    "Music City Realty": ("TN", "KY"),
    "Great Lakes Realty": ("MI", "OH", "IN"),
    "Prairie Home Realty": ("IL", "IA", "MO", "KS", "NE"),
    "North Woods Realty": ("MN", "WI", "ND", "SD"),
    "Delta Realty Partners": ("LA", "AR", "MS"),
    "Big Sky Realty": ("MT", "ID", "WY"),
    "Aloha Island Realty": ("HI",),
    "Last Frontier Realty": ("AK",),
    "Red River Realty": ("OK", "TX", "AR"),
    "Buckeye Heritage Realty": ("OH", "WV"),
}


def brokerage_weights(state: str) -> tuple[list[str], list[float]]:
    names = list(NATIONAL)
    weights = [1.0 / (rank + 1) ** 0.7 for rank in range(len(NATIONAL))]
    for name, states in REGIONAL.items():
        if state in states:
            names.append(name)
            weights.append(REGIONAL_WEIGHT)
    return names, weights


def make_offices() -> list[dict[str, object]]:
    rng = random.Random(SEED)
    places = Gazetteer.load().places  # sorted by (state, city): a stable order
    mass = [p.population**SIZE_EXPONENT for p in places]
    scale = TOTAL / sum(mass)
    offices: list[dict[str, object]] = []
    for place, m in zip(places, mass, strict=True):
        expected = m * scale
        count = math.floor(expected) + (rng.random() < expected - math.floor(expected))
        if place.population >= METRO_POPULATION:
            count = max(count, 1)
        names, weights = brokerage_weights(place.state)
        for _ in range(count):
            z = place.zips[rng.randrange(len(place.zips))]
            offices.append({
                "office_id": f"off-{len(offices) + 1:05d}",
                "brokerage": rng.choices(names, weights)[0],
                "lat": round(z.lat + rng.gauss(0.0, 0.005), 5),
                "lon": round(z.lon + rng.gauss(0.0, 0.006), 5),
                "city": place.city,
                "state": place.state,
            })
    return offices


def main() -> None:
    offices = make_offices()
    # One office a line: readable, and a regenerated file diffs line by line.
    lines = ",\n".join(msgspec.json.encode(o).decode() for o in offices)
    OUT.write_text(f'{{"format": "{FORMAT}", "offices": [\n{lines}\n]}}\n')
    brokerages = len({o["brokerage"] for o in offices})
    print(f"wrote {len(offices)} offices of {brokerages} brokerages to {OUT}")


if __name__ == "__main__":
    main()
