from __future__ import annotations

from datetime import UTC, datetime

import h3.api.basic_int as h3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.lead import Lead
from schemas.market import BuyerInteraction
from streams.enrich import NO_CELLS, H3Cells
from streams.features.penetration import MAX_BUYERS, NO_PENETRATION, PenetrationBook

HOUR = 3_600_000
T0 = 1_780_000_000_000
NOW = datetime(2026, 5, 1, tzinfo=UTC)
CELL = h3.latlng_to_cell(30.2713, -97.7426, 7)
OTHER = h3.latlng_to_cell(32.7767, -96.7970, 7)
LEAD = Lead(lead_id="x", source="portal", source_lead_id="x", event_time=NOW, received_time=NOW)


def _cells(cell_r7: int) -> H3Cells:
    r8 = h3.cell_to_center_child(cell_r7, 8)
    return H3Cells(cell_r7, r8, h3.cell_to_center_child(r8, 9))


def _bought(buyer: str, brokerage: str = "", cell: int = CELL, at: int = T0,
            kind: str = "purchase") -> BuyerInteraction:
    return BuyerInteraction(buyer_id=buyer, lead_id="l", kind=kind,  # type: ignore[arg-type]
                            occurred_ms=at, h3_r7=cell, brokerage_id=brokerage)


def _book_with_sales() -> PenetrationBook:
    """Ten leads in CELL; buyer a (brokerage K) bought 3, b (K) 1, c (M) 1."""
    book = PenetrationBook(168)
    for _ in range(10):
        book.observe(LEAD, _cells(CELL), T0)
    for buyer, brokerage in (("a", "K"), ("a", "K"), ("a", "K"), ("b", "K"), ("c", "M")):
        assert book.observe_interaction(_bought(buyer, brokerage))
    return book


def test_shares_are_purchases_over_the_cells_leads() -> None:
    book = _book_with_sales()
    assert book.buyer_share(CELL, "a") == pytest.approx(0.3)
    assert book.buyer_share(CELL, "c") == pytest.approx(0.1)
    assert book.buyer_share(CELL, "nobody") == 0.0
    assert book.brokerage_share(CELL, "K") == pytest.approx(0.4)
    assert book.buyer_share(OTHER, "a") == 0.0
    x = book.features(LEAD, _cells(CELL), T0)
    assert x["pen_top_share"] == pytest.approx(0.3)
    assert x["pen_hhi"] == pytest.approx((9 + 1 + 1) / 25)  # among the five purchases


def test_a_return_takes_a_purchase_back_and_views_change_nothing() -> None:
    book = _book_with_sales()
    assert not book.observe_interaction(_bought("a", "K", kind="view"))
    book.observe_interaction(_bought("a", "K", kind="return"))
    assert book.buyer_share(CELL, "a") == pytest.approx(0.2)
    assert book.brokerage_share(CELL, "K") == pytest.approx(0.3)


def test_shares_do_not_move_as_time_passes_but_old_sales_weigh_less() -> None:
    book = _book_with_sales()
    later = T0 + 168 * HOUR  # one half-life
    assert book.features(LEAD, _cells(CELL), later) == book.features(LEAD, _cells(CELL), T0)
    for _ in range(5):  # five fresh leads now weigh as much as the ten old ones
        book.observe(LEAD, _cells(CELL), later)
    assert book.buyer_share(CELL, "a") == pytest.approx(1.5 / 10)
    book.observe_interaction(_bought("d", at=later))
    assert book.buyer_share(CELL, "d") == pytest.approx(1 / 10)


def test_more_purchases_than_counted_leads_still_sum_to_one() -> None:
    book = PenetrationBook(168)
    book.observe(LEAD, _cells(CELL), T0)
    for buyer in "abc":  # e.g. the leads were counted before a restart lost them
        book.observe_interaction(_bought(buyer))
    assert sum(book.buyer_share(CELL, b) for b in "abc") == pytest.approx(1.0)


@settings(max_examples=80, deadline=None)
@given(leads=st.integers(0, 30),
       events=st.lists(st.tuples(st.sampled_from("abcdefgh"), st.sampled_from("KLM"),
                                 st.sampled_from(["purchase", "purchase", "return"]),
                                 st.integers(0, 2_000 * HOUR)), max_size=60))
def test_shares_of_a_cell_sum_to_at_most_one(leads: int,
                                             events: list[tuple[str, str, str, int]]) -> None:
    book = PenetrationBook(168)
    for i in range(leads):
        book.observe(LEAD, _cells(CELL), T0 + i * 50 * HOUR)
    for buyer, brokerage, kind, at in events:
        book.observe_interaction(_bought(buyer, brokerage, at=T0 + at, kind=kind))
    assert sum(book.buyer_share(CELL, b) for b in "abcdefgh") <= 1.0 + 1e-9
    assert sum(book.brokerage_share(CELL, k) for k in "KLM") <= 1.0 + 1e-9
    x = book.features(LEAD, _cells(CELL), T0)
    assert 0.0 <= x["pen_hhi"] <= 1.0 + 1e-9
    assert 0.0 <= x["pen_top_share"] <= 1.0 + 1e-9


def test_buyers_per_cell_are_bounded() -> None:
    book = PenetrationBook(168)
    book.observe_interaction(_bought("big"))
    book.observe_interaction(_bought("big"))
    for i in range(MAX_BUYERS + 10):
        book.observe_interaction(_bought(f"small{i}"))
    assert book.buyer_share(CELL, "big") > 0
    exported = book.export(str(CELL))
    assert exported is not None
    assert len(exported["b"]) == MAX_BUYERS


def test_export_restore_round_trip_gives_identical_features() -> None:
    book = _book_with_sales()
    restored = PenetrationBook(168)
    for key in book.take_dirty():
        restored.restore(key, book.export(key))
    later = T0 + 5 * HOUR
    assert restored.features(LEAD, _cells(CELL), later) == book.features(LEAD, _cells(CELL), later)
    assert restored.brokerage_share(CELL, "K") == book.brokerage_share(CELL, "K")


def test_unlocated_leads_and_cells_without_sales_get_zeros() -> None:
    book = _book_with_sales()
    assert book.features(LEAD, NO_CELLS, T0) == NO_PENETRATION
    book.observe(LEAD, _cells(OTHER), T0)
    assert book.features(LEAD, _cells(OTHER), T0) == NO_PENETRATION
    assert not book.observe_interaction(_bought("a", cell=0))


def test_sweep_forgets_faded_cells() -> None:
    book = _book_with_sales()
    assert book.sweep(T0 + 168 * HOUR) == 0
    assert book.sweep(T0 + 20 * 168 * HOUR) == 1
    assert book.export(str(CELL)) is None


def test_weights_are_rescaled_far_from_the_reference_without_changing_shares() -> None:
    book = _book_with_sales()
    far = T0 + 45 * 168 * HOUR  # 2^45 beyond the cell's reference time
    book.observe(LEAD, _cells(CELL), far)
    for _ in range(9):
        book.observe(LEAD, _cells(CELL), far)
    book.observe_interaction(_bought("z", at=far))
    assert book.buyer_share(CELL, "z") == pytest.approx(0.1)
    assert book.buyer_share(CELL, "a") == pytest.approx(0.0, abs=1e-9)
