"""Buyer fit: each factor, and the product staying in [0, 1]."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime

import h3.api.basic_int as h3
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streams.serve.fit
from schemas.lead import ScoredLead
from schemas.market import Buyer
from streams.serve.fit import BuyerFit, fit, lead_terms
from streams.serve.pricing import expected_lead_price

HOME = (41.4993, -81.6944)  # Cleveland
CELL = h3.latlng_to_cell(*HOME, 7)
NOW = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)


def lead(**changes: object) -> ScoredLead:
    base = ScoredLead(lead_id="portal:1", source="portal", source_lead_id="1", event_time=NOW,
                      received_time=NOW, intent="buy", property_type="single_family",
                      price=250_000.0, lat=HOME[0], lon=HOME[1], location_precision="exact",
                      h3_r7=CELL, score=0.1)
    return msgspec.structs.replace(base, **changes)


def buyer(**changes: object) -> Buyer:
    base = Buyer(buyer_id="buyer-0001", brokerage_id="brk-1", cells_r7=[CELL],
                 home_lat=HOME[0], home_lon=HOME[1], price_min=150_000.0, price_max=400_000.0,
                 property_types=["single_family", "condo"], intents=["buy", "sell"],
                 budget_per_lead=100.0)
    return msgspec.structs.replace(base, **changes)


def test_a_lead_matching_everything_fits_fully() -> None:
    assert fit(buyer(), lead()) == 1.0


def test_no_stated_preferences_accept_anything_in_the_area() -> None:
    open_buyer = buyer(price_min=0.0, price_max=0.0, property_types=[], budget_per_lead=0.0)
    assert fit(open_buyer, lead(property_type="land", price=9_000_000.0)) == 1.0


@pytest.mark.parametrize(("intent", "expected"), [("rent", 0.0), ("unknown", 0.5)])
def test_intent_outside_the_buyers_list(intent: str, expected: float) -> None:
    assert fit(buyer(), lead(intent=intent)) == expected


def test_area_falls_off_with_distance_from_home_outside_the_buyers_cells() -> None:
    far_cell = buyer(cells_r7=[h3.latlng_to_cell(40.0, -80.0, 7)])
    near = fit(far_cell, lead())  # the lead sits at the buyer's home, outside their cells
    moved = lat_lon_cell(41.59, -81.6944)  # ~10 km north
    further = fit(far_cell, lead(lat=moved[0], lon=moved[1], h3_r7=moved[2]))
    assert near == pytest.approx(1.0, abs=0.01)
    assert 0.25 < further < 0.5
    away = lat_lon_cell(42.2, -81.6944)  # ~78 km: beyond the limit
    assert fit(far_cell, lead(lat=away[0], lon=away[1], h3_r7=away[2])) == 0.0


def lat_lon_cell(lat: float, lon: float) -> tuple[float, float, int]:
    return lat, lon, h3.latlng_to_cell(lat, lon, 7)


def test_an_unlocated_lead_fits_nobody() -> None:
    assert fit(buyer(), lead(lat=None, lon=None, h3_r7=0, location_precision="none")) == 0.0


def test_price_outside_the_band_falls_off_with_log_distance() -> None:
    inside = fit(buyer(), lead(price=400_000.0))
    near = fit(buyer(), lead(price=520_000.0))  # 30 % over the top of the band
    far = fit(buyer(), lead(price=800_000.0))  # twice the top
    assert inside == 1.0
    assert near == pytest.approx(0.7, abs=0.05)
    assert far < 0.1
    assert fit(buyer(), lead(price=75_000.0)) < 0.1  # half the bottom


def test_rent_is_judged_as_the_home_value_it_implies() -> None:
    renter = buyer(intents=["rent"])
    assert fit(renter, lead(intent="rent", price=1_500.0)) == 1.0  # ≈ 273k home
    assert fit(renter, lead(intent="rent", price=400.0)) < 0.1  # ≈ 73k home


def test_unknown_price_and_type_count_partly() -> None:
    assert fit(buyer(), lead(price=None)) == pytest.approx(0.7)
    assert fit(buyer(), lead(property_type=None)) == pytest.approx(0.7)
    assert fit(buyer(), lead(property_type="land")) == pytest.approx(0.15)


def test_a_lead_over_budget_fits_by_the_square_of_the_shortfall() -> None:
    assert expected_lead_price(1_500_000.0) == 150.0
    wealthy = buyer(price_max=0.0, budget_per_lead=75.0)
    assert fit(wealthy, lead(price=1_500_000.0)) == pytest.approx((75.0 / 150.0) ** 2)
    assert fit(buyer(budget_per_lead=0.0, price_max=0.0), lead(price=1_500_000.0)) == 1.0


def test_compiled_buyer_matches_the_one_off_form() -> None:
    compiled = BuyerFit(buyer())
    for changed in (lead(), lead(price=520_000.0), lead(intent="sell", property_type="condo")):
        assert compiled.fit(lead_terms(changed)) == fit(buyer(), changed)


@settings(max_examples=200, deadline=None)
@given(
    price=st.one_of(st.none(), st.floats(min_value=1.0, max_value=1e8)),
    intent=st.sampled_from(["buy", "sell", "rent", "unknown"]),
    ptype=st.one_of(st.none(), st.sampled_from(["single_family", "condo", "land", "boat"])),
    lat=st.floats(min_value=40.5, max_value=42.5),
    price_min=st.floats(min_value=0.0, max_value=1e6),
    span=st.floats(min_value=0.0, max_value=5e6),
    budget=st.floats(min_value=0.0, max_value=500.0),
)
def test_fit_is_always_in_the_unit_interval(price: float | None, intent: str, ptype: str | None,
                                           lat: float, price_min: float, span: float,
                                           budget: float) -> None:
    where = lat_lon_cell(lat, HOME[1])
    value = fit(buyer(price_min=price_min, price_max=price_min + span if span else 0.0,
                      budget_per_lead=budget),
                lead(price=price, intent=intent, property_type=ptype, lat=where[0],
                     lon=where[1], h3_r7=where[2]))
    assert 0.0 <= value <= 1.0


def test_doctests() -> None:
    assert doctest.testmod(streams.serve.fit).failed == 0
