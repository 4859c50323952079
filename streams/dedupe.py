"""Duplicate detection: the same person about the same area within a window.

A person is their normalised email or their E.164 phone; an area is an H3
res-8 cell and its ring-1 neighbours (unlocated leads share one "nowhere"
area). The first lead seen (in arrival order) is the original; later ones within the window are
kept but linked to it (`duplicate_of`) and never sold.

State is an explicit mutable mapping (a Faust table in the worker, a dict in
tests): `contact|cell → "lead_id@event_ms"` for originals only.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from functools import lru_cache

import h3.api.basic_int as h3

from schemas.lead import Lead

NOWHERE = 0  # the "cell" of unlocated leads


def _contacts(lead: Lead) -> Iterator[str]:
    if lead.email:
        yield f"e:{lead.email}"
    if lead.phone:
        yield f"p:{lead.phone}"


@lru_cache(maxsize=1 << 16)
def _area(cell_r8: int) -> tuple[int, ...]:
    # grid_disk costs ~20 µs; leads cluster in metros, so the same cells come back.
    return tuple(h3.grid_disk(cell_r8, 1)) if cell_r8 else (NOWHERE,)


def find_original(
    lead: Lead, cell_r8: int, event_ms: int, window_ms: int, state: MutableMapping[str, str]
) -> str | None:
    """The lead id this lead duplicates, or None if it is an original (and then remember it).

    A replay of the original itself is not a duplicate of itself.
    """
    contacts = list(_contacts(lead))
    for contact in contacts:
        for cell in _area(cell_r8):
            entry = state.get(f"{contact}|{cell}")
            if entry is None:
                continue
            original, _, seen_ms = entry.partition("@")
            if original == lead.lead_id:
                return None
            # Either order: partitions interleave, so a later-dated lead may arrive first.
            if abs(event_ms - int(seen_ms)) <= window_ms:
                return original
    for contact in contacts:
        state[f"{contact}|{cell_r8 or NOWHERE}"] = f"{lead.lead_id}@{event_ms}"
    return None


def expired_keys(state: MutableMapping[str, str], now_ms: int, window_ms: int) -> list[str]:
    """Keys whose original is older than the window: safe to forget."""
    return [key for key, entry in state.items()
            if now_ms - int(entry.rpartition("@")[2]) > window_ms]
