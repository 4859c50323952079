from __future__ import annotations

from datetime import UTC, datetime

import h3.api.basic_int as h3

from schemas.lead import Lead
from streams.dedupe import find_original, is_expired

HOUR = 3_600_000
AUSTIN = h3.latlng_to_cell(30.2713, -97.7426, 8)
DALLAS = h3.latlng_to_cell(32.7767, -96.7970, 8)


def _lead(lead_id: str, email: str | None = "a@b.co", phone: str | None = None) -> Lead:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    return Lead(lead_id=lead_id, source="portal", source_lead_id=lead_id, event_time=now,
                received_time=now, email=email, phone=phone)


def test_same_email_same_cell_within_window_is_a_duplicate_of_the_first() -> None:
    state: dict[str, str] = {}
    assert find_original(_lead("a"), AUSTIN, 0, 72 * HOUR, state) is None
    assert find_original(_lead("b"), AUSTIN, HOUR, 72 * HOUR, state) == "a"
    assert find_original(_lead("c"), AUSTIN, 2 * HOUR, 72 * HOUR, state) == "a"


def test_neighbouring_cell_counts_as_the_same_area() -> None:
    state: dict[str, str] = {}
    neighbour = next(c for c in h3.grid_disk(AUSTIN, 1) if c != AUSTIN)
    find_original(_lead("a"), AUSTIN, 0, HOUR, state)
    assert find_original(_lead("b"), neighbour, 1, HOUR, state) == "a"


def test_other_area_or_other_person_or_outside_window_is_original() -> None:
    state: dict[str, str] = {}
    find_original(_lead("a"), AUSTIN, 0, HOUR, state)
    assert find_original(_lead("b"), DALLAS, 1, HOUR, state) is None
    assert find_original(_lead("c", email="other@b.co"), AUSTIN, 1, HOUR, state) is None
    assert find_original(_lead("d"), AUSTIN, 2 * HOUR, HOUR, state) is None


def test_phone_links_leads_with_different_emails() -> None:
    state: dict[str, str] = {}
    find_original(_lead("a", email=None, phone="+15125550134"), AUSTIN, 0, HOUR, state)
    assert find_original(_lead("b", email="x@y.co", phone="+15125550134"), AUSTIN, 1, HOUR,
                         state) == "a"


def test_a_replayed_original_is_not_its_own_duplicate() -> None:
    state: dict[str, str] = {}
    find_original(_lead("a"), AUSTIN, 0, HOUR, state)
    assert find_original(_lead("a"), AUSTIN, 0, HOUR, state) is None


def test_unlocated_leads_share_one_area() -> None:
    state: dict[str, str] = {}
    find_original(_lead("a"), 0, 0, HOUR, state)
    assert find_original(_lead("b"), 0, 1, HOUR, state) == "a"


def test_expired_originals_can_be_forgotten() -> None:
    state: dict[str, str] = {}
    find_original(_lead("a"), AUSTIN, 0, HOUR, state)
    find_original(_lead("b", email="b@b.co"), AUSTIN, 3 * HOUR, HOUR, state)
    expired = [key for key, entry in state.items() if is_expired(entry, 3 * HOUR, HOUR)]
    assert expired == [f"e:a@b.co|{AUSTIN}"]
