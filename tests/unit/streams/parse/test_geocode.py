"""Offline geocoding against the bundled `zipcodes` data, and the service-area boxes."""

from __future__ import annotations

import math

import pytest
import zipcodes

from streams.parse.geocode import (
    Location,
    city_key,
    city_point,
    in_us_area,
    locate,
    normalize_state,
    normalize_zip,
    warm,
    zip_place,
)

SERVICE_STATES = {
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
    "PR",
}


def test_zip_place_matches_the_package() -> None:
    place = zip_place("78701")
    assert place is not None
    expected = zipcodes.matching("78701")[0]
    assert (place.city, place.state) == ("Austin", "TX")
    assert (place.lat, place.lon) == (float(expected["lat"]), float(expected["long"]))


def test_zip_place_unknown() -> None:
    assert zip_place("00000") is None


@pytest.mark.parametrize(
    ("city", "state"),
    [
        ("Austin", "TX"),
        ("AUSTIN", "TX"),
        ("St. Louis", "MO"),
        ("Saint Louis", "MO"),
        ("Fort Worth", "TX"),
        ("Ft Worth", "TX"),
        ("New York", "NY"),
        ("San Juan", "PR"),
    ],
)
def test_city_point_found(city: str, state: str) -> None:
    point = city_point(city, state)
    assert point is not None
    assert in_us_area(*point)


def test_city_point_is_near_the_city() -> None:
    point = city_point("Austin", "TX")
    assert point is not None
    assert point == pytest.approx((30.27, -97.74), abs=0.3)


@pytest.mark.parametrize(("city", "state"), [("Austin", "CA"), ("Atlantis", "TX"), ("", "TX")])
def test_city_point_unknown(city: str, state: str) -> None:
    assert city_point(city, state) is None


def test_city_key() -> None:
    assert city_key("St. Louis") == city_key("SAINT LOUIS") == "saint louis"
    assert city_key("  Winston-Salem ") == "winston salem"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("78701", "78701"),
        (" 78701 ", "78701"),
        ("78701-1234", "78701"),
        ("787011234", "78701"),
        (2134, "02134"),
        ("7870", None),
        ("ABCDE", None),
        ("\uff17\uff18\uff17\uff10\uff11", None),
        (None, None),
        (True, None),
        (-1, None),
        ("", None),
    ],
)
def test_normalize_zip(raw: object, expected: str | None) -> None:
    assert normalize_zip(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("TX", "TX"),
        ("tx", "TX"),
        (" Texas ", "TX"),
        ("NEW YORK", "NY"),
        ("Puerto Rico", "PR"),
        ("District of Columbia", "DC"),
        ("XX", None),
        ("Ontario", None),
        (None, None),
        (48, None),
    ],
)
def test_normalize_state(raw: object, expected: str | None) -> None:
    assert normalize_state(raw) == expected


def test_every_service_area_zip_is_inside() -> None:
    outside = [
        z["zip_code"]
        for z in zipcodes.list_all()
        if z["state"] in SERVICE_STATES
        and (place := zip_place(z["zip_code"])) is not None
        and not in_us_area(place.lat, place.lon)
    ]
    assert outside == []


def test_zips_without_coordinates_are_unknown() -> None:
    # 35270 (Birmingham, AL) is listed at 0,0 in the data: no point beats a wrong one.
    assert zip_place("35270") is None
    where = locate(None, None, "35270", "Birmingham", "AL")
    assert where.precision == "city"
    assert in_us_area(where.lat, where.lon)


@pytest.mark.parametrize(
    ("lat", "lon", "inside"),
    [
        (30.2672, -97.7431, True),  # Austin
        (21.3069, -157.8583, True),  # Honolulu
        (61.2181, -149.9003, True),  # Anchorage
        (52.9, 173.2, True),  # Attu, past the antimeridian
        (18.4655, -66.1057, True),  # San Juan
        (51.5074, -0.1278, False),  # London
        (19.4326, -99.1332, False),  # Mexico City
        (13.4443, 144.7937, False),  # Guam
        (18.3419, -64.9307, False),  # St Thomas, USVI
        (0.0, 0.0, False),
        (math.nan, -97.0, False),
        (30.0, math.inf, False),
    ],
)
def test_in_us_area(lat: float, lon: float, inside: bool) -> None:
    assert in_us_area(lat, lon) is inside


def test_locate_exact_wins_and_fills_from_zip() -> None:
    where = locate(30.2713, -97.7426, "78701", None, None)
    assert where == Location(30.2713, -97.7426, "Austin", "TX", "78701", "exact")


def test_locate_zip() -> None:
    where = locate(None, None, "78701-0001", "austin", "texas")
    place = zip_place("78701")
    assert place is not None
    assert where == Location(place.lat, place.lon, "Austin", "TX", "78701", "zip")


def test_locate_unknown_zip_falls_back_to_city() -> None:
    where = locate(None, None, "00000", "Austin", "TX")
    assert where.precision == "city"
    assert (where.city, where.state, where.zip) == ("Austin", "TX", "00000")


def test_locate_source_city_wins_over_zip_city() -> None:
    assert locate(None, None, "78701", "Downtown", "TX").city == "Downtown"


@pytest.mark.parametrize(
    "args",
    [
        (None, None, None, None, None),
        (None, None, None, "Austin", None),
        (None, None, None, "Atlantis", "TX"),
        (30.0, None, None, None, None),
        (math.nan, -97.0, None, None, None),
    ],
)
def test_locate_none(args: tuple) -> None:
    where = locate(*args)
    assert where.precision == "none"
    assert (where.lat, where.lon) == (None, None)


def test_locate_keeps_impossible_coordinates_for_validation() -> None:
    assert locate(500.0, -97.0, None, None, None).precision == "exact"


def test_warm_is_idempotent() -> None:
    warm()
    before = zip_place("10001")
    warm()
    assert zip_place("10001") == before


def test_locate_cache_tells_types_apart() -> None:
    assert locate(None, None, True, None, None).zip is None
    assert locate(None, None, 1, None, None).zip == "00001"


def test_locate_takes_unhashable_junk() -> None:
    assert locate(None, None, ["78701"], {"city": 1}, ["TX"]) == Location(
        None, None, None, None, None, "none"
    )
