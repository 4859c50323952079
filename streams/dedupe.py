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


class PendingLinks:
    """Missed links whose later lead this worker does not remember, waiting to be read
    back from the warehouse and re-sent linked (`agents.ingest`).

    The worker that scored a lead remembers it only for a while (`RecentLeads`: in memory,
    unquarantined, bounded), and it may have stopped since. So a worker that finds a link
    it cannot re-send from memory asks the warehouse, after `delay_ms` (time for a worker
    that remembers the lead to re-send it first: then the warehouse already has it linked,
    and nothing is sent twice), then every `delay_ms` while the lead has not landed, for at
    most `patience_ms`.
    """

    def __init__(self, delay_ms: int = 2_000, patience_ms: int = 60_000) -> None:
        self.delay_ms = delay_ms
        self.patience_ms = patience_ms
        self._links: dict[str, tuple[MissedLink, int]] = {}  # later → (link, first seen)
        self._next_ms = 0
        self.abandoned = 0

    def __len__(self) -> int:
        return len(self._links)

    def add(self, link: MissedLink, now_ms: int) -> None:
        if link.later not in self._links:
            if not self._links:
                self._next_ms = now_ms + self.delay_ms
            self._links[link.later] = (link, now_ms)

    def due(self, now_ms: int) -> list[str]:
        """The later leads to ask the warehouse for now (none until the next attempt)."""
        if not self._links or now_ms < self._next_ms:
            return []
        self._next_ms = now_ms + self.delay_ms
        return [later for later, (_, seen) in self._links.items()
                if now_ms - seen >= self.delay_ms]

    def settle(self, asked: list[str], found: set[str], now_ms: int) -> list[MissedLink]:
        """The links of the `asked` leads the warehouse `found`, now done with; the others
        wait for the next attempt, or are given up past `patience_ms` (`abandoned`)."""
        settled = []
        for later in asked:
            pending = self._links.get(later)
            if pending is None:
                continue
            link, seen = pending
            if later in found:
                settled.append(link)
            elif now_ms - seen < self.patience_ms:
                continue
            else:
                self.abandoned += 1
            del self._links[later]
        return settled


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
