"""Duplicate detection: the same person about the same area within a window.

A person is their normalised email or their E.164 phone; an area is an H3
res-8 cell and its ring-1 neighbours (unlocated leads share one "nowhere"
area). The earliest lead (by event time, then id) is the original, whatever order the
leads arrive in; the others within the window are kept but linked to it (`duplicate_of`)
and never sold. An original displaced by an earlier-dated lead that arrives after it is
named in a `MissedLink`, and the worker re-sends it linked.

State is an explicit mutable mapping (a Faust table in the worker, a dict in
tests): `contact|cell → "lead_id@event_ms"` for originals only.

With several workers each one scores part of the leads and mirrors the others' originals
(`merge_original`, fed from the table's changelog). Two workers that score a person's
leads within one mirror delay both record an original: the merge sees both and names the
later one a `MissedLink` too, which the worker that scored it re-sends linked
(`agents.ingest`), so the warehouse ends with the answers of one worker.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from functools import lru_cache
from typing import NamedTuple

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
    lead: Lead, cell_r8: int, event_ms: int, window_ms: int, state: MutableMapping[str, str],
    missed: list[MissedLink] | None = None,
) -> str | None:
    """The lead id this lead duplicates, or None if it is an original (and then remember it).

    The original is the person's earliest lead in the area within the window (event time,
    then id), whatever order the leads arrive in: partitions interleave, so a lead dated
    before an original already recorded may arrive after it. It then takes its place, and
    each original it displaces goes into `missed` (to be re-sent linked to it). A replay of
    an original is not a duplicate of itself.
    """
    contacts = contacts_of(lead)
    if not contacts:
        return None
    suffixes = _area_suffixes(cell_r8)
    get = state.get
    lead_id = lead.lead_id
    mine = (event_ms, lead_id)
    earliest: tuple[int, str] | None = None
    displaced: list[str] = []
    for contact in contacts:
        for suffix in suffixes:
            entry = get(contact + suffix)
            if entry is None:
                continue
            original, _, seen = entry.partition("@")
            if original == lead_id:
                return None
            seen_ms = int(seen)
            if abs(event_ms - seen_ms) > window_ms:
                continue
            if (seen_ms, original) < mine:
                if earliest is None or (seen_ms, original) < earliest:
                    earliest = (seen_ms, original)
            elif original not in displaced:
                displaced.append(original)
    if earliest is not None:
        return earliest[1]
    remembered = f"{lead_id}@{event_ms}"
    for contact in contacts:
        state[contact + suffixes[0]] = remembered
    if missed is not None:
        missed.extend(MissedLink(later, lead_id, remembered) for later in displaced)
    return None


def contacts_of(lead: Lead) -> tuple[str, ...]:
    """The person's dedupe contacts: ``e:<email>`` then ``p:<phone>``, those it has."""
    email, phone = lead.email, lead.phone
    if email and phone:
        return ("e:" + email, "p:" + phone)
    if email:
        return ("e:" + email,)
    if phone:
        return ("p:" + phone,)
    return ()


def original_keys(lead: Lead, cell_r8: int) -> list[str]:
    """The keys `find_original` writes when `lead` is an original."""
    suffix = _area_suffixes(cell_r8)[0]
    return [contact + suffix for contact in contacts_of(lead)]


class MissedLink(NamedTuple):
    """Two originals of one person and area within the window: `later` duplicates `original`
    (whose table entry is `original_entry`)."""

    later: str
    original: str
    original_entry: str


def _parsed(entry: str) -> tuple[str, int]:
    lead_id, _, ms = entry.rpartition("@")
    return lead_id, int(ms)


def merge_original(state: MutableMapping[str, str], key: str, entry: str | None, *,
                   window_ms: int, now_ms: int) -> MissedLink | None:
    """Apply another worker's changelog record (`entry` None: a tombstone) to `state`.

    Every worker merges every record the same way, so their tables agree once they have
    read the same records: of two originals within the window the earlier stays, past it
    the newer replaces the expired one. A tombstone removes only an expired entry (the
    sweep wrote it; a newer original written since must stay). Returns the missed link
    when `entry` and an original in its area are two of one person's leads in the window.
    """
    current = state.get(key)
    if entry is None:
        if current is not None and is_expired(current, now_ms, window_ms):
            del state[key]
        return None
    if entry == current:
        # Its own record coming back, or one merged before: the area was searched when
        # the entry was set (by `find_original` or here), and a lead since was searched
        # against it. Half the records with two workers, all with one.
        return None
    lead_id, event_ms = _parsed(entry)
    contact, _, cell = key.rpartition("|")
    missed: MissedLink | None = None
    for suffix in _area_suffixes(int(cell)):
        other = state.get(contact + suffix)
        if other is None:
            continue
        other_id, other_ms = _parsed(other)
        if other_id != lead_id and abs(event_ms - other_ms) <= window_ms:
            later, earlier = sorted(((event_ms, lead_id), (other_ms, other_id)), reverse=True)
            missed = MissedLink(later[1], earlier[1], f"{earlier[1]}@{earlier[0]}")
            break
    if current is None or current == entry:
        state[key] = entry
    else:
        current_id, current_ms = _parsed(current)
        if abs(event_ms - current_ms) <= window_ms:
            keep = min((event_ms, lead_id), (current_ms, current_id))
            state[key] = f"{keep[1]}@{keep[0]}"
        elif event_ms > current_ms:
            state[key] = entry
    return missed


def is_expired(entry: str, now_ms: int, window_ms: int) -> bool:
    """Whether a stored original (`lead_id@event_ms`) is older than the window at `now_ms`."""
    return now_ms - int(entry.rpartition("@")[2]) > window_ms
