from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import h3.api.basic_int as h3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.lead import Lead
from schemas.market import BuyerInteraction, CompetitorOffice
from streams.enrich import NO_CELLS, H3Cells, enrich
from streams.features.market import NEUTRAL, MarketBook, price_kind
from streams.features.market_stores import MarketStores

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_780_000_000_000
NOW = datetime(2026, 5, 1, tzinfo=UTC)
PARENT = h3.latlng_to_cell(30.2713, -97.7426, 5)
CELL, SIBLING = sorted(h3.cell_to_children(PARENT, 7))[:2]


def _cells(cell_r7: int) -> H3Cells:
    r8 = h3.cell_to_center_child(cell_r7, 8)
    return H3Cells(cell_r7, r8, h3.cell_to_center_child(r8, 9))


def _lead(price: float | None = 400_000, intent: str = "buy", ptype: str | None = "single_family",
          listing_id: str | None = None, n: int = 0) -> Lead:
    return Lead(lead_id=f"l{n}", source="portal", source_lead_id=f"l{n}", event_time=NOW,
                received_time=NOW, price=price, intent=intent,  # type: ignore[arg-type]
                property_type=ptype, listing_id=listing_id)


def _feed(book: MarketBook, lead: Lead, cell: int = CELL, at: int = T0) -> dict[str, float]:
    """Features then observe, as the ingest stage does."""
    x = book.features(lead, _cells(cell), at)
    book.observe(lead, _cells(cell), at)
    return x


def _interaction(buyer: str, cell: int = CELL, at: int = T0, kind: str = "view",
                 brokerage: str = "") -> BuyerInteraction:
    return BuyerInteraction(buyer_id=buyer, lead_id="l", kind=kind,  # type: ignore[arg-type]
                            occurred_ms=at, h3_r7=cell, brokerage_id=brokerage)


def test_a_lead_priced_like_its_area_is_at_zero_and_double_is_at_log_two() -> None:
    book = MarketBook(168)
    for i in range(30):
        _feed(book, _lead(400_000), at=T0 + i * HOUR)
    at = T0 + 30 * HOUR
    assert book.features(_lead(400_000), _cells(CELL), at)["mkt_price_rel"] == pytest.approx(0)
    x = book.features(_lead(800_000), _cells(CELL), at)
    assert x["mkt_price_rel"] == pytest.approx(math.log(2))
    assert x["mkt_price_rel_sq"] == pytest.approx(math.log(2) ** 2)
    assert book.features(_lead(40_000_000), _cells(CELL), at)["mkt_price_rel"] == 2.0  # clipped
    assert book.features(_lead(None), _cells(CELL), at)["mkt_price_rel"] == 0.0


def test_rents_and_sales_have_separate_levels() -> None:
    book = MarketBook(168)
    for i in range(20):
        _feed(book, _lead(400_000), at=T0 + i * HOUR)
        _feed(book, _lead(2_000, intent="rent"), at=T0 + i * HOUR)
    at = T0 + 20 * HOUR
    assert book.price_rel(_lead(400_000), CELL, at) == pytest.approx(0)
    assert book.price_rel(_lead(2_000, intent="rent"), CELL, at) == pytest.approx(0)
    assert book.price_rel(_lead(4_000, intent="rent"), CELL, at) == pytest.approx(math.log(2))


def test_an_unknown_intent_at_a_monthly_price_is_a_rent() -> None:
    assert price_kind(_lead(2_500, intent="unknown")) == "rent"
    assert price_kind(_lead(250_000, intent="unknown")) == "sale"
    assert price_kind(_lead(2_500, intent="rent")) == "rent"


def test_property_types_are_priced_against_their_own_kind() -> None:
    # Condos list at 0.65 of a house in every area: once learned, a condo at its usual price
    # is "priced like its area", and so is a house.
    book = MarketBook(168)
    rng = random.Random(3)
    cells = [c for c in h3.cell_to_children(PARENT, 7)][:6]
    for i in range(600):
        cell = cells[i % len(cells)]
        area = 300_000 * (1 + cells.index(cell) / 5)
        condo = rng.random() < 0.4
        price = area * (0.65 if condo else 1.0) * math.exp(rng.gauss(0, 0.1))
        _feed(book, _lead(price, ptype="condo" if condo else "single_family", n=i), cell,
              T0 + i * 60_000)
    at = T0 + 600 * 60_000
    for cell in cells:
        area = 300_000 * (1 + cells.index(cell) / 5)
        assert book.price_rel(_lead(area), cell, at) == pytest.approx(0, abs=0.06)
        assert book.price_rel(_lead(area * 0.65, ptype="condo"), cell, at) == pytest.approx(
            0, abs=0.06)


def test_a_sparse_cell_leans_on_its_parent_area() -> None:
    book = MarketBook(168)
    for i in range(40):
        _feed(book, _lead(400_000), at=T0 + i * HOUR)
    at = T0 + 40 * HOUR
    # A cell with no leads yet takes its res-5 parent's level...
    assert book.price_rel(_lead(400_000), SIBLING, at) == pytest.approx(0, abs=0.01)
    # ... and one odd listing there moves it only part of the way.
    _feed(book, _lead(1_200_000), SIBLING, at)
    rel = book.price_rel(_lead(400_000), SIBLING, at)
    assert rel is not None
    assert -math.log(3) < rel < -0.05


def test_trend_follows_a_rising_or_falling_price_series() -> None:
    for daily, sign in ((0.01, 1), (-0.01, -1)):
        book = MarketBook(168)
        for day in range(60):
            for k in range(3):
                _feed(book, _lead(400_000 * math.exp(daily * day)), at=T0 + day * DAY + k * HOUR)
        trend = book.features(_lead(400_000), _cells(CELL), T0 + 60 * DAY)["mkt_trend"]
        assert trend * sign > 0.1  # ~0.3 log price a month, shrunk a little


def test_steady_prices_have_no_trend_and_noise_shows_as_volatility() -> None:
    book = MarketBook(168)
    rng = random.Random(1)
    for i in range(200):
        _feed(book, _lead(400_000 * math.exp(rng.gauss(0, 0.3))), at=T0 + i * HOUR)
    x = book.features(_lead(400_000), _cells(CELL), T0 + 200 * HOUR)
    assert abs(x["mkt_trend"]) < 0.15
    assert x["mkt_volatility"] == pytest.approx(0.3, abs=0.08)


def test_a_typo_price_barely_moves_the_level() -> None:
    book = MarketBook(168)
    for i in range(30):
        _feed(book, _lead(400_000 * (1.1 if i % 2 else 0.9)), at=T0 + i * HOUR)
    _feed(book, _lead(40_000_000), at=T0 + 30 * HOUR)  # two extra zeros
    assert book.price_rel(_lead(400_000), CELL, T0 + 31 * HOUR) == pytest.approx(0, abs=0.05)


def test_demand_is_inquiries_per_distinct_listing() -> None:
    book = MarketBook(168)
    for i in range(6):
        _feed(book, _lead(listing_id=f"L{i % 2}"), at=T0)
    _feed(book, _lead(listing_id=None), at=T0)  # not about a listing
    x = book.features(_lead(), _cells(CELL), T0)
    assert x["mkt_demand"] == pytest.approx(math.log(3))


def test_velocity_grows_with_leads_and_fades_with_time() -> None:
    book = MarketBook(24)
    _feed(book, _lead(), at=T0)
    one = book.features(_lead(), _cells(CELL), T0)["mkt_velocity"]
    for _ in range(9):
        _feed(book, _lead(), at=T0)
    ten = book.features(_lead(), _cells(CELL), T0)["mkt_velocity"]
    later = book.features(_lead(), _cells(CELL), T0 + 24 * HOUR)["mkt_velocity"]
    assert 0 < one < ten
    # Ten leads with a 24-hour half-life: 10 ln2 / 24 leads an hour, halved a day later.
    assert ten == pytest.approx(math.log1p(10 * math.log(2) / 24))
    assert later == pytest.approx(math.log1p(5 * math.log(2) / 24))


def test_competition_counts_distinct_buyers_active_within_a_half_life() -> None:
    book = MarketBook(24)
    for buyer in ("b1", "b2", "b3", "b1"):
        assert book.observe_interaction(_interaction(buyer, at=T0))
    assert not book.observe_interaction(_interaction("b4", cell=0))
    assert book.features(_lead(), _cells(CELL), T0)["mkt_competition"] == pytest.approx(
        math.log1p(3))
    book.observe_interaction(_interaction("b2", at=T0 + 20 * HOUR))
    x = book.features(_lead(), _cells(CELL), T0 + 30 * HOUR)
    assert x["mkt_competition"] == pytest.approx(math.log1p(1))


def test_export_restore_round_trip_gives_identical_features() -> None:
    book = MarketBook(168)
    rng = random.Random(5)
    for i in range(50):
        cell = CELL if i % 3 else SIBLING
        lead = _lead(rng.choice([2_000, 300_000, 500_000]), intent=rng.choice(["buy", "rent"]),
                     ptype=rng.choice(["condo", "single_family", None]),
                     listing_id=rng.choice([None, "L1", "L2"]), n=i)
        _feed(book, lead, cell, T0 + i * HOUR)
    book.observe_interaction(_interaction("b1", at=T0 + 10 * HOUR))
    restored = MarketBook(168)
    for key in book.take_dirty():
        restored.restore(key, book.export(key))
    at = T0 + 60 * HOUR
    for cell in (CELL, SIBLING):
        for lead in (_lead(350_000, ptype="condo"), _lead(1_800, intent="rent"), _lead(None)):
            assert restored.features(lead, _cells(cell), at) == book.features(lead, _cells(cell),
                                                                               at)


def test_unlocated_leads_get_neutral_features_and_change_nothing() -> None:
    book = MarketBook(168)
    assert book.features(_lead(), NO_CELLS, T0) == NEUTRAL
    book.observe(_lead(), NO_CELLS, T0)
    assert book.take_dirty() == []


def test_sweep_forgets_faded_cells() -> None:
    book = MarketBook(24)
    _feed(book, _lead(listing_id="L1"), at=T0)
    book.observe_interaction(_interaction("b1", at=T0))
    assert book.sweep(T0 + 2 * DAY) == 0
    assert book.sweep(T0 + 10 * DAY) >= 1
    assert book.export(str(CELL)) is None


# --- the container the ingest stage calls -----------------------------------------------

_OFFICES = [CompetitorOffice(office_id="o1", brokerage="Acme", lat=30.27, lon=-97.74)]


def test_market_stores_merge_every_family_with_prefixed_names() -> None:
    stores = MarketStores.create(offices=_OFFICES)
    lead = Lead(lead_id="a", source="portal", source_lead_id="a", event_time=NOW,
                received_time=NOW, lat=30.27, lon=-97.74, location_precision="exact",
                price=400_000, intent="buy")
    x = stores.features(lead, enrich(lead), T0)
    stores.observe(lead, enrich(lead), T0)
    assert len(x) == 16
    assert {name.split("_")[0] for name in x} == {"geo", "comp", "clu", "mkt", "pen"}
    # The lead was counted: the next one there sees it.
    assert stores.features(lead, enrich(lead), T0)["geo_density_cell"] == pytest.approx(
        math.log(2))
    assert set(stores.tables()) == {"density_by_cell", "competitors_by_office",
                                    "market_by_cell", "penetration_by_cell"}


_US_LAT = st.floats(24.0, 49.0)
_US_LON = st.floats(-125.0, -67.0)


@st.composite
def _leads(draw: st.DrawFn) -> tuple[Lead, int]:
    located = draw(st.booleans())
    price = draw(st.one_of(st.none(), st.floats(0.0, 1e12, allow_nan=False),
                           st.sampled_from([1.0, 1e-9, 5e11])))
    lead = Lead(
        lead_id=draw(st.sampled_from("abc")), source="portal", source_lead_id="x",
        event_time=NOW, received_time=NOW,
        lat=draw(_US_LAT) if located else None, lon=draw(_US_LON) if located else None,
        location_precision="exact" if located else "none", price=price,
        intent=draw(st.sampled_from(["buy", "sell", "rent", "unknown"])),
        property_type=draw(st.sampled_from([None, "condo", "land", "odd"])),
        listing_id=draw(st.sampled_from([None, "L1", "L2"])),
    )
    return lead, T0 + draw(st.integers(-10 * DAY, 400 * DAY))


@settings(max_examples=60, deadline=None)
@given(st.lists(_leads(), min_size=1, max_size=25),
       st.lists(st.tuples(st.sampled_from(["purchase", "return", "view"]),
                          st.integers(-10 * DAY, 400 * DAY)), max_size=5))
def test_features_are_always_finite(leads: list[tuple[Lead, int]],
                                    interactions: list[tuple[str, int]]) -> None:
    stores = MarketStores.create(offices=_OFFICES)
    for (lead, at), (kind, when) in zip(leads, interactions + [("view", 0)] * len(leads),
                                        strict=False):
        cells = enrich(lead)
        x = stores.features(lead, cells, at)
        assert len(x) == 16
        assert all(math.isfinite(v) for v in x.values()), x
        stores.observe(lead, cells, at)
        stores.observe_interaction(BuyerInteraction(
            buyer_id="b", lead_id=lead.lead_id, kind=kind,  # type: ignore[arg-type]
            occurred_ms=T0 + when, h3_r7=cells.r7, brokerage_id="k"))
