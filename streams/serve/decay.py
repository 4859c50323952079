"""Score decay with lead age: a lead's value halves every `half_life_hours`.

Contract:
- `decay_factor(age_hours, half_life_hours)` is ``0.5 ** (age / half_life)``: 1.0 at
  age 0 (and for leads from the future: clock skew never *raises* a score), 0.5 after
  one half-life. A half-life of 0 or less, or infinity, switches decay off (factor 1.0).
- `decayed(score, created_ms, now_ms, half_life_hours)` applies it to a score.
- Exponential decay is chosen on purpose: it multiplies every lead by the same factor
  per hour of waiting, so the *order* of leads never changes as they age
  (`streams.serve.ranking.sort_key` builds on that).
"""

from __future__ import annotations

import math

MS_PER_HOUR = 3_600_000.0


def decays(half_life_hours: float) -> bool:
    """Whether a half-life setting means any decay at all."""
    return 0.0 < half_life_hours < math.inf


def decay_factor(age_hours: float, half_life_hours: float) -> float:
    """The share of its value a lead keeps after `age_hours`.

    >>> decay_factor(48.0, 48.0)
    0.5
    >>> decay_factor(-1.0, 48.0), decay_factor(1e6, 0.0)
    (1.0, 1.0)
    """
    if age_hours <= 0.0 or not decays(half_life_hours):
        return 1.0
    return 0.5 ** (age_hours / half_life_hours)


def decayed(score: float, created_ms: int, now_ms: int, half_life_hours: float) -> float:
    """`score` as it stands `now_ms`, for a lead created at `created_ms` (both epoch ms)."""
    return score * decay_factor((now_ms - created_ms) / MS_PER_HOUR, half_life_hours)
