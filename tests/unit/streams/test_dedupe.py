from __future__ import annotations

from datetime import UTC, datetime

import h3.api.basic_int as h3

from schemas.lead import Lead
from streams.dedupe import MissedLink, find_original, is_expired, merge_original

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


# --- merging another worker's originals (the table's mirror) ------------------------------


def _merged(state: dict[str, str], key: str, entry: str | None, now_ms: int = 0
            ) -> MissedLink | None:
    return merge_original(state, key, entry, window_ms=72 * HOUR, now_ms=now_ms)


def _worker(*leads: tuple[Lead, int, int]) -> dict[str, str]:
    """The table of a worker that scored `leads` (lead, cell, event_ms) alone."""
    state: dict[str, str] = {}
    for lead, cell, event_ms in leads:
        find_original(lead, cell, event_ms, 72 * HOUR, state)
    return state


def test_two_workers_that_both_recorded_an_original_agree_on_the_earlier() -> None:
    neighbour = next(c for c in h3.grid_disk(AUSTIN, 1) if c != AUSTIN)
    here = _worker((_lead("a", phone="+15125550100"), AUSTIN, 0))
    there = _worker((_lead("b", email="x@y.co", phone="+15125550100"), neighbour, HOUR))
    seen_here = [_merged(here, key, entry) for key, entry in there.items()]
    seen_there = [_merged(there, key, entry) for key, entry in list(here.items())]
    # Matched on the phone across neighbouring cells, found on both sides, the same way.
    assert MissedLink("b", "a", "a@0") in seen_here
    assert MissedLink("b", "a", "a@0") in seen_there
    # A third lead of that person links to the earlier one whichever worker scores it.
    for state in (here, there):
        state[f"p:+15125550100|{neighbour}"] = "a@0"  # what the relink writes over "b"
        assert find_original(_lead("c", phone="+15125550100"), neighbour, 2 * HOUR,
                             72 * HOUR, state) == "a"


def test_the_same_key_keeps_the_earlier_original_in_either_order() -> None:
    key = f"e:a@b.co|{AUSTIN}"
    first, second = {key: "a@100"}, {key: "b@50"}
    assert _merged(first, key, "b@50") == MissedLink("a", "b", "b@50")
    assert _merged(second, key, "a@100") == MissedLink("a", "b", "b@50")
    assert first == second == {key: "b@50"}


def test_past_the_window_the_newer_original_replaces_the_expired_one() -> None:
    key = f"e:a@b.co|{AUSTIN}"
    old, new = "a@0", f"b@{73 * HOUR}"
    state = {key: old}
    assert _merged(state, key, new) is None and state[key] == new
    assert _merged(state, key, old) is None and state[key] == new  # a late copy of the old


def test_a_workers_own_records_coming_back_change_nothing() -> None:
    state = _worker((_lead("a", phone="+15125550100"), AUSTIN, 0),
                    (_lead("b", email="other@b.co"), DALLAS, HOUR))
    before = dict(state)
    assert [_merged(state, key, entry) for key, entry in before.items()] == [None] * 3
    assert state == before


def test_a_tombstone_removes_only_an_expired_original() -> None:
    key = f"e:a@b.co|{AUSTIN}"
    state = {key: f"a@{10 * HOUR}"}
    _merged(state, key, None, now_ms=11 * HOUR)  # written after the sweep that deleted it
    assert key in state
    _merged(state, key, None, now_ms=83 * HOUR)
    assert key not in state
