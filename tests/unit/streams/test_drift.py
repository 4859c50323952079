"""Schema drift detection (`streams.drift`) and its sampling sensor (`agents.drift`)."""

from __future__ import annotations

import doctest
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streams.drift
from agents.drift import DriftSensor
from infra.metrics import SCHEMA_DRIFT
from schemas.contract import SOURCES
from streams.drift import DriftConfig, DriftMonitor, SourceProfile, shape_of
from streams.traffic.generator import TrafficGenerator

SMALL = DriftConfig(window_events=50, min_window_events=20)


def _portal(i: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "inquiry_id": f"pi-{i}",
        "submitted_at": "2026-05-01T12:00:00Z",
        "listing": {"listing_id": f"L-{i}", "price": 455000 + i, "beds": 3, "baths": 2},
        "contact": {"name": "Jane Doe", "email": f"j{i}@example.com"},
        "intent": "buy",
    }
    if i % 3 == 0:
        doc["message"] = "Is it still available?"  # an optional field: a third of events
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def _feed(monitor: DriftMonitor, docs: list[dict[str, Any]], source: str = "portal",
          start: float = 0.0) -> list[Any]:
    found = []
    for i, doc in enumerate(docs):
        found += monitor.observe(source, orjson.dumps(doc), start + i * 0.01)
    return found


def _kinds(found: list[Any]) -> set[tuple[str, str]]:
    return {(e.kind, e.field) for e in found}


def test_a_steady_stream_of_real_traffic_fires_nothing() -> None:
    # All five formats, with their messiness (webform's mixed keys, JSON or form bodies,
    # numbers sometimes as text) and 5% malformed events.
    for seed in range(2):
        generator = TrafficGenerator(SOURCES, seed=seed, malformed_share=0.05)
        monitor = DriftMonitor(SMALL)
        found = [d for e in generator.take(8000)
                 for d in monitor.observe(e.source, e.value, 0.0)]
        assert found == [], [d.detail for d in found]
        assert set(monitor.profiles) == set(SOURCES)
        assert all(p.windows_closed >= 5 for p in monitor.profiles.values())


def test_a_new_field_fires_once() -> None:
    monitor = DriftMonitor(SMALL)
    assert _feed(monitor, [_portal(i) for i in range(150)]) == []
    found = _feed(monitor, [_portal(i, utm_campaign="spring") for i in range(50)], start=10)
    assert _kinds(found) == {("field_added", "utm_campaign")}
    (event,) = found
    assert (event.source, event.window_type, event.window_presence) == ("portal", "string", 1.0)
    assert event.baseline_presence == 0.0 and event.window_events == 50
    assert "utm_campaign" in event.detail
    assert _feed(monitor, [_portal(i, utm_campaign="x") for i in range(200)], start=20) == []


def test_a_required_field_that_disappears_fires_once() -> None:
    monitor = DriftMonitor(SMALL)
    _feed(monitor, [_portal(i) for i in range(150)])
    found = _feed(monitor, [_portal(i, intent=None) for i in range(50)], start=10)
    assert _kinds(found) == {("field_removed", "intent")}
    assert found[0].baseline_type == "string" and found[0].window_type == ""
    assert _feed(monitor, [_portal(i, intent=None) for i in range(200)], start=20) == []


def test_an_optional_field_going_quiet_is_not_drift() -> None:
    monitor = DriftMonitor(SMALL)
    _feed(monitor, [_portal(i) for i in range(150)])
    assert _feed(monitor, [_portal(i, message=None) for i in range(100)], start=10) == []


def test_a_type_change_fires_once_with_from_and_to() -> None:
    monitor = DriftMonitor(SMALL)
    _feed(monitor, [_portal(i) for i in range(150)])
    listing = {"listing_id": "L", "price": "455,000", "beds": 3, "baths": 2}
    found = _feed(monitor, [_portal(i, listing=listing) for i in range(50)], start=10)
    assert _kinds(found) == {("type_changed", "listing.price")}
    assert (found[0].baseline_type, found[0].window_type) == ("number", "string")
    assert _feed(monitor, [_portal(i, listing=listing) for i in range(200)], start=20) == []


def test_an_object_removed_is_reported_once_not_per_nested_field() -> None:
    monitor = DriftMonitor(SMALL)
    _feed(monitor, [_portal(i) for i in range(150)])
    found = _feed(monitor, [_portal(i, contact=None) for i in range(50)], start=10)
    assert _kinds(found) == {("field_removed", "contact")}


def test_facebook_field_data_and_crm_properties_are_profiled_by_name() -> None:
    def facebook(i: int, extra: bool) -> dict[str, Any]:
        fields = [{"name": "email", "values": [f"a{i}@b.com"]}, {"name": "zip_code",
                                                                 "values": ["78701"]}]
        if extra:
            fields.append({"name": "how_soon?", "values": ["3 months"]})
        return {"id": str(i), "created_time": "2026-05-01T12:00:00+0000", "field_data": fields}

    def crm(i: int, epoch_as_text: bool) -> dict[str, Any]:
        created = str(1_700_000_000_000 + i) if epoch_as_text else 1_700_000_000_000 + i
        return {"objectId": i, "properties": {"email": {"value": f"c{i}@d.com"},
                                              "createdate": {"value": created}}}

    monitor = DriftMonitor(SMALL)
    _feed(monitor, [facebook(i, False) for i in range(100)], source="facebook")
    _feed(monitor, [crm(i, False) for i in range(100)], source="crm")
    found = _feed(monitor, [facebook(i, True) for i in range(50)], source="facebook", start=5)
    found += _feed(monitor, [crm(i, True) for i in range(50)], source="crm", start=5)
    assert _kinds(found) == {("field_added", "field_data.how_soon?"),
                             ("type_changed", "properties.createdate")}


def test_a_partner_csv_row_gaining_a_column_is_drift() -> None:
    monitor = DriftMonitor(SMALL)
    for i in range(100):
        monitor.observe("partner", f"Jane,Doe,j{i}@x.com,78701".encode(), 0.0)
    found = [d for i in range(50)
             for d in monitor.observe("partner", f"Jane,Doe,j{i}@x.com,78701,buy".encode(), 1.0)]
    assert _kinds(found) == {("field_added", "[4]")}


def test_a_window_also_closes_on_time() -> None:
    profile = SourceProfile("portal", DriftConfig(window_events=1000, window_seconds=60,
                                                  min_window_events=20))
    shape = {"a": "string"}
    for i in range(30):
        profile.observe(shape, float(i))
    assert profile.windows_closed == 0
    profile.observe(shape, 61.0)
    assert profile.windows_closed == 1


def test_undecodable_bytes_are_not_profiled() -> None:
    monitor = DriftMonitor(SMALL)
    for raw in (b"", b"{trunc", b"[1, 2]", b"\xff\xfe", b"<html>502</html>", b"x" * 70_000):
        assert monitor.observe("portal", raw, 0.0) == []
    assert "portal" not in monitor.profiles


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200) | _json.map(orjson.dumps), min_size=1, max_size=120))
def test_any_bytes_never_raise_and_memory_stays_bounded(values: list[bytes]) -> None:
    config = DriftConfig(window_events=10, min_window_events=5, max_fields=20,
                         max_events_per_window=3)
    monitor = DriftMonitor(config, formats={"partner": "csv"})
    for i, raw in enumerate(values):
        for source in ("portal", "partner"):
            found = monitor.observe(source, raw, float(i))
            assert len(found) <= 3
    for profile in monitor.profiles.values():
        assert len(profile.baseline or {}) <= 20


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), _json, min_size=1, max_size=8),
       st.integers(min_value=60, max_value=300))
def test_any_document_sent_steadily_fires_nothing(doc: dict[str, Any], count: int) -> None:
    monitor = DriftMonitor(SMALL)
    assert _feed(monitor, [doc] * count) == []


@given(st.binary(max_size=300))
def test_shape_of_any_bytes_is_none_or_named_types(raw: bytes) -> None:
    for fmt in ("auto", "csv"):
        shape = shape_of(raw, fmt)
        assert shape is None or all(
            len(k) <= 2 * streams.drift.MAX_NAME + 1
            and v in {"string", "number", "bool", "null", "object", "array"}
            for k, v in shape.items()
        )


def test_doctests() -> None:
    assert doctest.testmod(streams.drift).failed == 0


# --- the sensor ----------------------------------------------------------------------------


def _sensor(every: int) -> DriftSensor:
    return DriftSensor({"t.leads.raw.portal": "portal"}, DriftMonitor(SMALL), every)


def _event(value: object) -> Any:
    return SimpleNamespace(value=value)


def _tp(topic: str) -> Any:
    return SimpleNamespace(topic=topic, partition=0)


def test_the_sensor_profiles_one_in_n_events_of_raw_topics_only() -> None:
    sensor = _sensor(every=10)
    raw = orjson.dumps(_portal(1))
    for offset in range(1000):
        assert sensor.on_stream_event_in(_tp("t.leads.raw.portal"), offset, None,  # type: ignore[arg-type]
                                         _event(raw)) is None
        sensor.on_stream_event_in(_tp("t.leads.scored"), offset, None, _event(raw))  # type: ignore[arg-type]
    profile = sensor.monitor.profiles["portal"]
    assert profile.windows_closed * SMALL.window_events + profile._events == 100


def test_the_sensor_counts_and_queues_drift() -> None:
    sensor = _sensor(every=1)
    for i in range(150):
        sensor.observe("portal", orjson.dumps(_portal(i)), 0.0)
    before = SCHEMA_DRIFT.labels("portal", "field_added", "utm_source")._value.get()
    for i in range(50):
        sensor.observe("portal", orjson.dumps(_portal(i, utm_source="fb")), 1.0)
    assert [(d.kind, d.field) for d in sensor.pending] == [("field_added", "utm_source")]
    assert SCHEMA_DRIFT.labels("portal", "field_added", "utm_source")._value.get() == before + 1


def test_the_sensor_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    sensor = _sensor(every=1)

    def broken(*_: object) -> list[Any]:
        raise RuntimeError("bug")

    monkeypatch.setattr(sensor.monitor, "observe", broken)
    for offset in range(3):
        assert sensor.on_stream_event_in(_tp("t.leads.raw.portal"), offset, None,  # type: ignore[arg-type]
                                         _event(b"{}")) is None
    assert sensor._failures == 3
