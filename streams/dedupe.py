"""Duplicate detection: the same person about the same area within a window.

A person is their normalised email or their E.164 phone; an area is an H3
res-8 cell and its ring-1 neighbours (unlocated leads share one "nowhere"
area). The first lead seen (in arrival order) is the original; later ones within the window are
kept but linked to it (`duplicate_of`) and never sold.

State is an explicit mutable mapping (a Faust table in the worker, a dict in
tests): `contact|cell → "lead_id@event_ms"` for originals only.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from functools import lru_cache

import h3.api.basic_int as h3

from schemas.lead import Lead

NOWHERE = 0  # the "cell" of unlocated leads


@lru_cache(maxsize=1 << 16)
def _area_suffixes(cell_r8: int) -> tuple[str, ...]:
    """``|cell`` key suffixes of the cell and its ring-1 neighbours, the cell itself first.

    grid_disk and formatting seven integers cost more than the lookups they serve; leads
    cluster in metros, so the same cells come back.
    """
    if not cell_r8:
        return (f"|{NOWHERE}",)
    ring = h3.grid_disk(cell_r8, 1)
    return (f"|{cell_r8}", *(f"|{cell}" for cell in ring if cell != cell_r8))


def find_original(
    lead: Lead, cell_r8: int, event_ms: int, window_ms: int, state: MutableMapping[str, str]
) -> str | None:
    """The lead id this lead duplicates, or None if it is an original (and then remember it).

    A replay of the original itself is not a duplicate of itself.
    """
    email, phone = lead.email, lead.phone
    if email and phone:
        contacts: tuple[str, ...] = ("e:" + email, "p:" + phone)
    elif email:
        contacts = ("e:" + email,)
    elif phone:
        contacts = ("p:" + phone,)
    else:
        return None
    suffixes = _area_suffixes(cell_r8)
    get = state.get
    for contact in contacts:
        for suffix in suffixes:
            entry = get(contact + suffix)
            if entry is None:
                continue
            original, _, seen_ms = entry.partition("@")
            if original == lead.lead_id:
                return None
            # Either order: partitions interleave, so a later-dated lead may arrive first.
            if abs(event_ms - int(seen_ms)) <= window_ms:
                return original
    remembered = f"{lead.lead_id}@{event_ms}"
    for contact in contacts:
        state[contact + suffixes[0]] = remembered
    return None


def is_expired(entry: str, now_ms: int, window_ms: int) -> bool:
    """Whether a stored original (`lead_id@event_ms`) is older than the window at `now_ms`."""
    return now_ms - int(entry.rpartition("@")[2]) > window_ms
