"""Expected value, the decay-free sort key, candidate buyers and what gets ranked."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3.api.basic_int as h3
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.lead import ScoredLead
from schemas.market import Buyer
from streams.serve.decay import MS_PER_HOUR, decayed
from streams.serve.ranking import (
    MIN_FIT,
    BuyerIndex,
    Placement,
    Removal,
    expected_value,
    lead_card,
    load_buyers,
    place,
    serve_op,
    sort_key,
    value_at,
)
from streams.serve.recommender import Recommender, lead_segment

HALF_LIFE = 48.0
T0 = 1_770_000_000_000  # epoch ms, early 2026
HOME = (41.4993, -81.6944)
CELL = h3.latlng_to_cell(*HOME, 7)
OTHER_CELL = h3.grid_ring(CELL, 3)[0]
NOW = datetime.fromtimestamp(T0 / 1000, UTC)


def lead(**changes: object) -> ScoredLead:
    base = ScoredLead(
        lead_id="portal:1", source="portal", source_lead_id="1", event_time=NOW,
        received_time=NOW, first_name="Ada", last_name="Lovelace", email="ada@example.com",
        phone="+12165550123", street="1 Main St", message="call me at +12165550123",
        ip="203.0.113.9", intent="buy", property_type="single_family", price=250_000.0,
        city="Cleveland", state="OH", zip="44113", lat=HOME[0], lon=HOME[1],
        location_precision="exact", h3_r7=CELL, h3_r8=h3.cell_to_parent(
            h3.latlng_to_cell(*HOME, 9), 8), score=0.2, scored_ms=T0, reasons=["has_phone"])
    return msgspec.structs.replace(base, **changes)


def buyer(buyer_id: str, **changes: object) -> Buyer:
    base = Buyer(buyer_id=buyer_id, brokerage_id="brk-1", cells_r7=[CELL], price_min=100_000.0,
                 price_max=400_000.0, intents=["buy", "sell"])
    return msgspec.structs.replace(base, **changes)


# The sort key


@settings(max_examples=100, deadline=None)
@given(
    leads=st.lists(st.tuples(st.floats(min_value=1e-6, max_value=1.0),
                             st.integers(min_value=0, max_value=30 * 24)),
                   min_size=2, max_size=30),
    first_look=st.integers(min_value=30 * 24, max_value=60 * 24),
    later=st.integers(min_value=1, max_value=90 * 24),
)
def test_ordering_by_the_key_is_ordering_by_decayed_value_at_any_later_time(
    leads: list[tuple[float, int]], first_look: int, later: int
) -> None:
    # Leads worth `ev` when created `hours` after T0; looked at twice, `later` hours apart.
    keyed = [(sort_key(ev, T0 + int(h * MS_PER_HOUR), HALF_LIFE), ev, h) for ev, h in leads]
    by_key = sorted(range(len(keyed)), key=lambda i: keyed[i][0], reverse=True)
    for hours in (first_look, first_look + later):
        now = T0 + int(hours * MS_PER_HOUR)
        values = [decayed(ev, T0 + int(h * MS_PER_HOUR), now, HALF_LIFE) for _, ev, h in keyed]
        # Non-increasing decayed values in key order: the same ranking at both instants.
        ordered = [values[i] for i in by_key]
        assert all(a >= b * (1 - 1e-9) for a, b in itertools.pairwise(ordered))
        for (key, _, _), value in zip(keyed, values, strict=True):
            assert value_at(key, now, HALF_LIFE) == pytest.approx(value, rel=1e-9)


def test_a_fresher_weaker_lead_overtakes_an_older_stronger_one_exactly_at_parity() -> None:
    old = sort_key(0.4, T0, HALF_LIFE)
    fresh = sort_key(0.2, T0 + int(HALF_LIFE * MS_PER_HOUR), HALF_LIFE)  # half the value, one
    assert fresh == pytest.approx(old)                                   # half-life younger
    assert sort_key(0.21, T0 + int(HALF_LIFE * MS_PER_HOUR), HALF_LIFE) > old


def test_without_decay_the_key_is_the_value() -> None:
    assert value_at(sort_key(0.3, T0, 0.0), T0 + 10**9, 0.0) == pytest.approx(0.3)


def test_a_zero_value_still_gets_a_finite_key_that_sorts_last() -> None:
    assert sort_key(0.0, T0, HALF_LIFE) < sort_key(1e-9, T0, HALF_LIFE)


def test_expected_value_is_score_times_fit_times_affinity() -> None:
    assert expected_value(0.2, 0.5, 1.5) == pytest.approx(0.15)


# Candidates and placements


def test_candidates_are_the_buyers_whose_area_holds_the_cell() -> None:
    home_only = buyer("buyer-0003", cells_r7=[], home_lat=HOME[0], home_lon=HOME[1])
    index = BuyerIndex([buyer("buyer-0001"), buyer("buyer-0002", cells_r7=[OTHER_CELL]),
                        home_only, buyer("buyer-0004", cells_r7=[])])
    assert {c.buyer.buyer_id for c in index.candidates(CELL)} == {"buyer-0001", "buyer-0003"}
    assert {c.buyer.buyer_id for c in index.candidates(OTHER_CELL)} == {"buyer-0002",
                                                                        "buyer-0003"}
    assert index.candidates(0) == ()
    assert len(index) == 4


def test_placement_ranks_the_cell_by_score_and_buyers_by_expected_value() -> None:
    index = BuyerIndex([buyer("buyer-0001"), buyer("buyer-0002", property_types=["condo"]),
                        buyer("buyer-0003", intents=["rent"])])
    placed = place(lead(), index, None, HALF_LIFE)
    assert isinstance(placed, Placement)
    assert placed.cell_key == sort_key(0.2, T0, HALF_LIFE)
    keys = dict(placed.buyer_keys)
    assert keys["buyer-0001"] == sort_key(0.2, T0, HALF_LIFE)  # fit 1.0
    assert keys["buyer-0002"] == pytest.approx(sort_key(0.2 * 0.15, T0, HALF_LIFE))
    assert "buyer-0003" not in keys  # fit 0: wrong intent
    assert placed.segment == lead_segment(lead())


def test_buyers_under_the_minimum_fit_are_left_out() -> None:
    index = BuyerIndex([buyer("buyer-0001", price_min=2_000_000.0, price_max=0.0)])
    placed = place(lead(), index, None, HALF_LIFE)
    assert placed is not None
    assert placed.buyer_keys == []
    assert MIN_FIT > 0


def test_affinity_from_the_recommender_refines_the_expected_value() -> None:
    index = BuyerIndex([buyer("buyer-0001"), buyer("buyer-0002")])
    reco = Recommender(warmup=1)
    for _ in range(200):
        reco.learn_one("buyer-0001", lead_segment(lead()), "purchase")
        reco.learn_one("buyer-0002", lead_segment(lead()), "return")
    placed = place(lead(), index, reco, HALF_LIFE)
    assert placed is not None
    keys = dict(placed.buyer_keys)
    assert keys["buyer-0001"] > sort_key(0.2, T0, HALF_LIFE) > keys["buyer-0002"]


@pytest.mark.parametrize("changes", [{"quarantined": True}, {"duplicate_of": "portal:0"},
                                     {"h3_r7": 0, "location_precision": "none"}])
def test_unsellable_leads_are_removed_not_ranked(changes: dict[str, object]) -> None:
    index = BuyerIndex([buyer("buyer-0001")])
    assert place(lead(**changes), index, None, HALF_LIFE) is None
    assert serve_op(lead(**changes), index, None, HALF_LIFE) == Removal("portal:1")


def test_the_clock_starts_at_the_event_but_never_after_scoring() -> None:
    skewed = lead(event_time=NOW + timedelta(minutes=3))  # a source clock running fast
    assert lead_card(skewed).created_ms == T0
    assert lead_card(lead(event_time=NOW - timedelta(hours=2))).created_ms == T0 - 7_200_000


def test_the_card_shows_no_contact_details() -> None:
    card = msgspec.json.encode(lead_card(lead())).decode()
    for secret in ("Ada", "Lovelace", "ada@example.com", "2165550123", "1 Main St",
                   "203.0.113.9", str(HOME[0])):
        assert secret not in card
    assert '"city":"Cleveland"' in card
    assert '"lead_price":' in card


# Bundled buyers


def test_bundled_buyers_use_the_generators_ids_and_real_cells() -> None:
    buyers = load_buyers()
    ids = [b.buyer_id for b in buyers]
    assert ids == [f"buyer-{i:04d}" for i in range(1, 500)]
    for b in buyers[:50]:
        assert re.fullmatch(r"brk-[a-z]{2}-[a-z0-9-]+-\d", b.brokerage_id)
        assert b.cells_r7
        assert all(h3.is_valid_cell(c) and h3.get_resolution(c) == 7 for c in b.cells_r7)
        assert b.price_max == 0.0 or b.price_max > b.price_min
        assert set(b.intents) <= {"buy", "sell", "rent"}


def test_a_buyers_file_overrides_the_bundled_one(tmp_path: Path) -> None:
    path = tmp_path / "buyers.json"
    path.write_bytes(msgspec.json.encode([buyer("buyer-0042")]))
    assert [b.buyer_id for b in load_buyers(path)] == ["buyer-0042"]


def test_the_card_gives_buyer_phrases_and_the_lead_keeps_its_codes() -> None:
    scored = lead(reasons=["hour_sin+", "hour_cos+", "has_phone-", "message_words+"])
    card = lead_card(scored)
    assert card.reasons == ["asked at a time of day when leads convert well",
                            "no phone number", "wrote a detailed message"]
    assert scored.reasons == ["hour_sin+", "hour_cos+", "has_phone-", "message_words+"]
    assert "hour_sin" not in msgspec.json.encode(card).decode()
