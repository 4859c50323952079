"""The value of `schemas.drift`: a source changed the shape of what it sends.

Only field names and JSON type names travel here, never field values (they hold contact
details). Keyed by source.
"""

from __future__ import annotations

from typing import Literal

import msgspec

DriftKind = Literal["field_added", "field_removed", "type_changed"]
DRIFT_KINDS: tuple[DriftKind, ...] = ("field_added", "field_removed", "type_changed")


class DriftEvent(msgspec.Struct, kw_only=True, frozen=True):
    source: str
    kind: DriftKind
    field: str  # `contact.email`, `field_data.email`, `properties.firstname`, …
    detail: str  # for people: what changed, from what, in how many events
    baseline_presence: float  # share of events carrying the field, before
    window_presence: float  # … in the window that changed
    baseline_type: str  # the field's usual JSON type ("" if it was absent)
    window_type: str  # its type in the window ("" if it is absent now)
    window_events: int  # sampled events the window held
    detected_ms: int
