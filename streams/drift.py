"""Schema drift: a rolling per-source profile of which fields arrive, with which JSON types.

Contract (pure: bytes and a clock reading in, `DriftEvent`s out):
- `shape_of(raw)` → `{field: json_type}` for one raw event, or None when the bytes are no
  document at all (that is the DLQ's business, not drift). Fields are the top-level keys
  plus one level of nesting: `listing.price`; lists of `{name, values}` by name
  (Facebook's `field_data.email`); `{"value": v}` wrappers unwrapped (HubSpot's
  `properties.email`). URL-encoded bodies give their keys; with `fmt="csv"` a CSV row
  gives positional columns `[0]`, `[1]`, … (header names when a header line comes along).
  Types: string, number, bool, null, object, array.
- `SourceProfile.observe(shape, now)` adds one shape to the current window; after
  `window_events` shapes (or `window_seconds` and at least `min_window_events`) the
  window closes and is compared with the baseline, an exponentially weighted blend of the
  windows before it (the first window only sets the baseline):
  - `field_added`: in ≥ `added_presence` of the window (and ≥ `min_field_events` events),
    in < `novel_below` of the baseline;
  - `field_removed`: in ≥ `required_presence` of the baseline, < `removed_below` of the
    window;
  - `type_changed`: a type that is ≥ `type_share` of the field's values in the window and
    was < `novel_below` of them in the baseline, judged only for fields with at least
    `min_type_values` values in the window.
  A change fires once: the window is then blended in (weight `smoothing`), so the next
  window compares against a baseline that already knows it. Nested fields of an added or
  removed object are reported through their parent only.
- Memory is bounded: at most `max_fields` fields a source, `max_events_per_window` drift
  events per window, names cut to `MAX_NAME` characters.
- `DriftMonitor` keeps one profile per source. Nothing here raises on any input bytes.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from schemas.drift import DriftEvent, DriftKind

MAX_NAME = 64
MAX_SHAPE_FIELDS = 200
_FORGET_BELOW = 1e-4

Shape = dict[str, str]
#: field → JSON type → share of the window's (or baseline's) events.
Profile = dict[str, dict[str, float]]


@dataclass(frozen=True, slots=True)
class DriftConfig:
    window_events: int = 200
    window_seconds: float = 300.0
    min_window_events: int = 30
    required_presence: float = 0.9
    removed_below: float = 0.5
    added_presence: float = 0.1
    novel_below: float = 0.01
    type_share: float = 0.2
    min_field_events: int = 5
    min_type_values: int = 20
    smoothing: float = 0.3
    max_fields: int = 300
    max_events_per_window: int = 20
    max_bytes: int = 64 * 1024


_JSON_TYPES: dict[type, str] = {
    str: "string", int: "number", float: "number", bool: "bool", type(None): "null",
    dict: "object", list: "array",
}


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value.

    >>> [json_type(v) for v in ("a", 1, 1.5, True, None, {}, [])]
    ['string', 'number', 'number', 'bool', 'null', 'object', 'array']
    """
    return _JSON_TYPES.get(type(value), "object")


def _name(key: str) -> str:
    return key if len(key) <= MAX_NAME else key[:MAX_NAME]


def shape_of_document(doc: Mapping[str, Any]) -> Shape:
    """The fields of a decoded JSON object, one level deep.

    >>> shape_of_document({"id": "1", "contact": {"email": "a@b"}, "properties":
    ...     {"zip": {"value": 78701}}, "field_data": [{"name": "city", "values": ["X"]}]})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'id': 'string', 'contact': 'object', 'contact.email': 'string', 'properties': 'object',
     'properties.zip': 'number', 'field_data': 'array', 'field_data.city': 'string'}
    """
    # The hot part of a sampled event: type lookups by dict, no helper calls per value.
    # Names are cut to MAX_NAME when a window closes, not here.
    types = _JSON_TYPES
    shape: Shape = {}
    for key, value in doc.items():
        if len(shape) >= MAX_SHAPE_FIELDS:
            break
        kind = types.get(type(value), "object")
        shape[key] = kind
        if kind == "object":
            for sub, item in value.items():
                # HubSpot-style `{"value": v, "timestamp": …}` wrappers stand for their value.
                if type(item) is dict and "value" in item:
                    item = item["value"]
                shape[f"{key}.{sub}"] = types.get(type(item), "object")
        elif kind == "array":
            for item in value[:MAX_SHAPE_FIELDS]:
                # Facebook-style `{"name": n, "values": [v, …]}` (or `"value": v`).
                if type(item) is dict and type(field := item.get("name")) is str:
                    values = item.get("values")
                    if type(values) is list:
                        item = values[0] if values else None
                    else:
                        item = item.get("value")
                    shape[f"{key}.{field}"] = types.get(type(item), "object")
    return shape


def _shape_of_form(raw: bytes) -> Shape | None:
    if b"=" not in raw or b"\n" in raw.strip():
        return None
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return {_name(k): "string" if v else "null" for k, v in pairs[:MAX_SHAPE_FIELDS]} or None


def _shape_of_csv(raw: bytes) -> Shape | None:
    try:
        rows = list(csv.reader(raw.decode("utf-8").splitlines()[:2]))
    except (UnicodeDecodeError, csv.Error):
        return None
    if not rows or not rows[-1]:
        return None
    row = rows[-1][:MAX_SHAPE_FIELDS]
    names = rows[0] if len(rows) == 2 and len(rows[0]) == len(rows[1]) else None
    return {
        _name(names[i]) if names else f"[{i}]": "string" if value else "null"
        for i, value in enumerate(row)
    }


def shape_of(raw: bytes, fmt: str = "auto", max_bytes: int = 64 * 1024) -> Shape | None:
    """The fields of one raw event (see the module contract); None for no document.

    >>> shape_of(b'{"a": 1, "b": {"c": null}}')
    {'a': 'number', 'b': 'object', 'b.c': 'null'}
    >>> shape_of(b"name=Jo&email=&zip=78701")
    {'name': 'string', 'email': 'null', 'zip': 'string'}
    >>> shape_of(b"Jo,,78701", fmt="csv")
    {'[0]': 'string', '[1]': 'null', '[2]': 'string'}
    >>> shape_of(b"<html>502</html>") is None
    True
    """
    if not raw or len(raw) > max_bytes:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _shape_of_csv(raw) if fmt == "csv" else _shape_of_form(raw)
    return shape_of_document(doc) if isinstance(doc, dict) else None


def _presence(types: Mapping[str, float] | None) -> float:
    return sum(types.values()) if types else 0.0


def _dominant(types: Mapping[str, float] | None) -> str:
    return max(types.items(), key=lambda item: (item[1], item[0]))[0] if types else ""


class SourceProfile:
    """The rolling profile of one source: a baseline and the window being filled."""

    def __init__(self, source: str, config: DriftConfig | None = None) -> None:
        self.source = source
        self.config = config or DriftConfig()
        self.baseline: Profile | None = None
        self.windows_closed = 0
        # Events of one source mostly share one shape: count whole shapes (one dict update
        # an event), expand them into per-field counts when the window closes.
        self._shapes: dict[tuple[tuple[str, str], ...], int] = {}
        self._events = 0
        self._started = 0.0

    def observe(self, shape: Mapping[str, str], now: float) -> list[DriftEvent]:
        """Add one event's shape seen at `now` (epoch seconds); drift if a window closed."""
        config = self.config
        if self._events == 0:
            self._started = now
        self._events += 1
        key = tuple(shape.items())
        self._shapes[key] = self._shapes.get(key, 0) + 1
        n = self._events
        if n >= config.window_events or (
            n >= min(config.min_window_events, config.window_events)
            and now - self._started >= config.window_seconds
        ):
            return self._close(now)
        return []

    def _close(self, now: float) -> list[DriftEvent]:
        n = self._events
        window = _window_profile(self._shapes, n, self.config.max_fields)
        self._shapes, self._events = {}, 0
        self.windows_closed += 1
        if self.baseline is None:
            self.baseline = window
            return []
        drift = self._compare(self.baseline, window, n, int(now * 1000))
        self.baseline = self._blend(self.baseline, window)
        return drift

    def _compare(
        self, baseline: Profile, window: Profile, n: int, now_ms: int
    ) -> list[DriftEvent]:
        config = self.config
        found: list[DriftEvent] = []

        def event(kind: DriftKind, field: str, detail: str, before: Mapping[str, float] | None,
                  after: Mapping[str, float] | None, window_type: str = "") -> None:
            found.append(DriftEvent(
                source=self.source, kind=kind, field=field, detail=detail,
                baseline_presence=round(_presence(before), 4),
                window_presence=round(_presence(after), 4),
                baseline_type=_dominant(before), window_type=window_type or _dominant(after),
                window_events=n, detected_ms=now_ms,
            ))

        for field in sorted(baseline.keys() | window.keys()):
            before, after = baseline.get(field), window.get(field)
            was, now_share = _presence(before), _presence(after)
            seen = round(now_share * n)
            if was < config.novel_below:
                if now_share >= config.added_presence and seen >= config.min_field_events:
                    event("field_added", field,
                          f"new field {field!r} ({_dominant(after)}) in {now_share:.0%} of {n} "
                          "events", before, after)
                continue
            if was >= config.required_presence and now_share < config.removed_below:
                event("field_removed", field,
                      f"field {field!r} in {now_share:.0%} of {n} events (was {was:.0%})",
                      before, after)
                continue
            # Types of a rarely-present field are too few to judge (and some sources mix them).
            if seen < config.min_type_values or not after or not before:
                continue
            for kind, share in sorted(after.items()):
                if (share / now_share >= config.type_share
                        and before.get(kind, 0.0) / was < config.novel_below):
                    event("type_changed", field,
                          f"field {field!r} is {kind} in {share / now_share:.0%} of its "
                          f"{seen} values (was {_dominant(before)})", before, after, kind)
        return _without_nested(found)[: config.max_events_per_window]

    def _blend(self, baseline: Profile, window: Profile) -> Profile:
        alpha = self.config.smoothing
        blended: Profile = {}
        for field in baseline.keys() | window.keys():
            before, after = baseline.get(field, {}), window.get(field, {})
            types = {
                kind: share
                for kind in before.keys() | after.keys()
                if (share := (1 - alpha) * before.get(kind, 0.0) + alpha * after.get(kind, 0.0))
                >= _FORGET_BELOW
            }
            if types:
                blended[field] = types
        if len(blended) > self.config.max_fields:
            keep = sorted(blended, key=lambda f: _presence(blended[f]), reverse=True)
            blended = {field: blended[field] for field in keep[: self.config.max_fields]}
        return blended


def _window_profile(
    shapes: Mapping[tuple[tuple[str, str], ...], int], n: int, max_fields: int
) -> Profile:
    """Per-field type shares of a window from its shape counts; the most common fields
    first when there are more than `max_fields`."""
    counts: dict[str, dict[str, int]] = {}
    for shape, times in sorted(shapes.items(), key=lambda item: -item[1]):
        for field, kind in shape:
            name = _name(field)
            types = counts.get(name)
            if types is None:
                if len(counts) >= max_fields:
                    continue
                types = counts[name] = {}
            types[kind] = types.get(kind, 0) + times
    return {
        field: {kind: min(count / n, 1.0) for kind, count in types.items()}
        for field, types in counts.items()
    }


def _without_nested(events: list[DriftEvent]) -> list[DriftEvent]:
    """Drop `a.b` added/removed when `a` itself was added/removed in the same window."""
    parents = {(e.kind, e.field) for e in events if e.kind != "type_changed"}
    return [
        e for e in events
        if e.kind == "type_changed" or "." not in e.field
        or (e.kind, e.field.split(".", 1)[0]) not in parents
    ]


class DriftMonitor:
    """One `SourceProfile` per source; `formats` names sources whose bodies are CSV rows."""

    def __init__(
        self,
        config: DriftConfig | None = None,
        formats: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config or DriftConfig()
        self.formats = dict(formats if formats is not None else {"partner": "csv"})
        self.profiles: dict[str, SourceProfile] = {}

    def observe(self, source: str, raw: bytes, now: float) -> list[DriftEvent]:
        """Profile one raw event of `source`; the drift found if it closed a window."""
        shape = shape_of(raw, self.formats.get(source, "auto"), self.config.max_bytes)
        if shape is None:
            return []
        profile = self.profiles.get(source)
        if profile is None:
            profile = self.profiles[source] = SourceProfile(source, self.config)
        return profile.observe(shape, now)
