"""Joining an outcome to the lead it is about: learn from the snapshot taken at scoring time.

Contract:
- A `Snapshot` is what the learn agent keeps of a scored lead: the features exactly as the
  model saw them when it scored the lead (never recomputed: behaviour, density and market
  features move on), and when it was scored. `stored`/`from_stored` give the JSON text the
  agent's table keeps; the dicts kept before (with `scored_ms`, or a plain dict of floats
  from before scoring times were kept) still read.
- `judge(snapshot, occurred_ms, now_ms)` says what to do with an outcome:
  ``learn`` (its lead's snapshot is known and fresh enough); ``expired`` (the outcome came
  more than `MAX_LABEL_AGE_MS` after scoring: the lead is no longer the one the model
  scored, and a label that late teaches the model about another world); ``unknown`` (no
  snapshot, and the outcome happened more than `UNKNOWN_AFTER_MS` ago: a lead that was
  never scored here, or one already learned and forgotten, as when a restart replays
  outcomes); ``wait`` (no snapshot yet, but the outcome is fresh: its lead may still be on
  its way through `leads.scored`). Expired and unknown outcomes are counted, never learned.
- `outlived(kept, now_ms)` says when the join may forget a kept snapshot (or the dated
  mark of a learned lead): `KEEP_MS` after it. The only outcomes it could still teach then
  happened within the label age yet reach us over `UNKNOWN_AFTER_MS` after they happened,
  which the join already drops as ``unknown`` whenever the snapshot is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

Verdict = Literal["learn", "expired", "unknown", "wait"]

MAX_LABEL_AGE_MS = 30 * 24 * 3_600_000  # a month after scoring
UNKNOWN_AFTER_MS = 3_600_000  # an hour of waiting for the snapshot of a fresh outcome
#: How long the join keeps a snapshot (see `outlived`).
KEEP_MS = MAX_LABEL_AGE_MS + UNKNOWN_AFTER_MS


class Snapshot(msgspec.Struct, frozen=True):
    features: dict[str, float]
    scored_ms: int = 0  # 0: not known (kept before scoring times were)


class _Dated(msgspec.Struct):
    """The dates of a kept value; decoding skips the features."""

    scored_ms: int = 0
    learned: bool = False
    at_ms: int = 0


_snapshot_text = msgspec.json.Encoder()
_snapshot_of_text = msgspec.json.Decoder(Snapshot)
_dates_of_text = msgspec.json.Decoder(_Dated)


def stored(snapshot: Snapshot) -> str:
    """The value the join keeps: JSON text, ~1.4 kB in memory where the same snapshot as a
    dict of floats takes ~3.5 kB (52 features; it is read once, when its outcome comes)."""
    return _snapshot_text.encode(snapshot).decode()


def from_stored(value: str | Mapping[str, Any]) -> Snapshot:
    """A kept snapshot: the text `stored` makes, or a dict as the table held it before."""
    if isinstance(value, str):
        return _snapshot_of_text.decode(value)
    features = value.get("features")
    if isinstance(features, dict):
        return Snapshot(features, int(value.get("scored_ms") or 0))
    return Snapshot(dict(value))  # a bare feature dict, as kept before


def judge(snapshot: Snapshot | None, occurred_ms: int, now_ms: int) -> Verdict:
    """What to do with an outcome that `occurred_ms`, given its lead's snapshot (or None)."""
    if snapshot is None:
        return "unknown" if now_ms - occurred_ms > UNKNOWN_AFTER_MS else "wait"
    if snapshot.scored_ms and occurred_ms - snapshot.scored_ms > MAX_LABEL_AGE_MS:
        return "expired"
    return "learn"


def delay_s(snapshot: Snapshot, occurred_ms: int) -> float | None:
    """Seconds from scoring to the outcome (None when the scoring time is not known)."""
    if not snapshot.scored_ms:
        return None
    return max(occurred_ms - snapshot.scored_ms, 0) / 1000.0


def outlived(kept: str | Mapping[str, Any], now_ms: int) -> bool:
    """Whether the join may forget `kept`: a snapshot scored, or a learned mark made
    (``at_ms``), more than `KEEP_MS` ago. An undated mark predates dating and goes; an
    undated snapshot (the old bare form) stays, as it could still teach."""
    if isinstance(kept, str):
        dates = _dates_of_text.decode(kept)
        learned, at_ms, scored_ms = dates.learned, dates.at_ms, dates.scored_ms
    else:
        learned = kept.get("learned") is True
        at_ms, scored_ms = int(kept.get("at_ms") or 0), kept.get("scored_ms")
    if learned:
        return now_ms - at_ms > KEEP_MS
    return isinstance(scored_ms, int) and scored_ms > 0 and now_ms - scored_ms > KEEP_MS
