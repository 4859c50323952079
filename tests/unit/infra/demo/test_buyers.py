"""The pure parts of `aiqleads buyers`: when a simulated interaction is sent, leads seen once."""

from __future__ import annotations

from collections import Counter

import pytest

from infra.demo.buyers import BuyersSummary, SeenIds, due_in_seconds
from schemas.market import BuyerInteraction

MINUTE_MS = 60_000


def interaction(occurred_ms: int) -> BuyerInteraction:
    return BuyerInteraction(buyer_id="b", lead_id="l", kind="view", occurred_ms=occurred_ms)


@pytest.mark.parametrize(
    ("offset_ms", "speedup", "seconds"),
    [
        (10 * MINUTE_MS, 60.0, 10.0),  # a 10-minute hold, 60x faster
        (10 * MINUTE_MS, 1.0, 600.0),
        (86_400_000, 1440.0, 60.0),  # a return a day later, a day a minute
        (0, 60.0, 0.0),
    ],
)
def test_an_interaction_is_due_its_simulated_delay_sped_up(
    offset_ms: int, speedup: float, seconds: float
) -> None:
    scored_ms = 1_770_000_000_000
    assert due_in_seconds(interaction(scored_ms + offset_ms), scored_ms, speedup) == seconds


def test_an_interaction_stamped_before_scoring_is_due_at_once() -> None:
    assert due_in_seconds(interaction(1_000), 5_000, 60.0) == 0.0


def test_a_lead_id_is_acted_on_once() -> None:
    seen = SeenIds(10)
    assert [seen.first_time(i) for i in ("a", "b", "a", "b", "c")] == [
        True, True, False, False, True]


def test_seen_ids_forget_the_oldest_beyond_capacity() -> None:
    seen = SeenIds(2)
    for lead_id in ("a", "b", "c"):
        assert seen.first_time(lead_id)
    assert not seen.first_time("c")
    assert seen.first_time("a")  # forgotten: memory stays bounded


def test_the_summary_counts_interactions_by_kind() -> None:
    summary = BuyersSummary(leads=3, sent=Counter({"view": 5, "purchase": 1}))
    assert "purchase 1, view 5" in summary.render()
