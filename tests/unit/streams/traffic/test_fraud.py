"""Labelled fraud and duplicates in generated traffic: each is what its label says."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import h3.api.basic_int as h3
import pytest

from schemas.lead import Lead
from streams.enrich import h3_cells
from streams.fraud.rules import (
    area_code_distance_km,
    canonical_email,
    is_gibberish_name,
    phone_reason,
)
from streams.parse.registry import parse
from streams.traffic.formats import RENDERERS
from streams.traffic.fraud import (
    DISPOSABLE_SAMPLE,
    FAR_AREA_CODE_KM,
    PATTERNS,
    stamp_ip,
)
from streams.traffic.generator import GeneratedEvent, TrafficGenerator
from streams.validate import validate

NOW = datetime(2026, 5, 1, 17, 30, tzinfo=UTC)
ALL_SOURCES = tuple(RENDERERS)


def _lead(event: GeneratedEvent) -> Lead:
    lead = parse(event.source, event.value, NOW, headers=event.headers)
    return validate(lead, NOW, max_age=timedelta(days=30), max_skew=timedelta(minutes=5))


@pytest.fixture(scope="module")
def mixed() -> list[GeneratedEvent]:
    generator = TrafficGenerator(
        ALL_SOURCES,
        seed=13,
        malformed_share=0.02,
        fraud_share=0.2,
        duplicate_share=0.05,
        clock=lambda: NOW,
    )
    return generator.take(6000)


@pytest.fixture(scope="module")
def parsed(mixed: list[GeneratedEvent]) -> list[tuple[GeneratedEvent, Lead]]:
    return [(e, _lead(e)) for e in mixed if e.fraud is not None or e.duplicate_of is not None]


def test_shares_follow_the_parameters(mixed: list[GeneratedEvent]) -> None:
    fraud = sum(e.fraud is not None for e in mixed) / len(mixed)
    duplicates = sum(e.duplicate_of is not None for e in mixed) / len(mixed)
    assert fraud == pytest.approx(0.2, abs=0.04)
    assert duplicates == pytest.approx(0.05, abs=0.02)
    assert {e.fraud for e in mixed if e.fraud} == set(PATTERNS)


def test_fraud_and_duplicates_are_valid_leads(mixed: list[GeneratedEvent]) -> None:
    for e in mixed:
        if e.fraud is not None or e.duplicate_of is not None:
            assert e.valid and e.defect is None and e.lead_id is not None
            assert not (e.fraud and e.duplicate_of)
    assert all(e.p == 0.0 for e in mixed if e.fraud)  # fakes never convert


def test_every_labelled_event_parses_to_its_own_id(
    parsed: list[tuple[GeneratedEvent, Lead]],
) -> None:
    assert all(lead.lead_id == e.lead_id for e, lead in parsed)


def test_single_event_patterns_are_what_they_say(
    parsed: list[tuple[GeneratedEvent, Lead]],
) -> None:
    seen = Counter()
    for e, lead in parsed:
        if e.fraud == "disposable_email":
            assert lead.email is not None and lead.email.rpartition("@")[2] in DISPOSABLE_SAMPLE
        elif e.fraud == "unassignable_phone":
            assert phone_reason(lead.phone) == "unassignable_phone"
        elif e.fraud == "phone_region_mismatch":
            assert lead.phone is not None and lead.lat is not None and lead.lon is not None
            distance = area_code_distance_km(lead.phone[2:5], lead.lat, lead.lon)
            assert distance is not None and distance >= FAR_AREA_CODE_KM - 100  # ZIP vs point
        elif e.fraud == "gibberish_name":
            assert is_gibberish_name(lead.first_name, lead.last_name)
        else:
            continue
        seen[e.fraud] += 1
    assert len(seen) == 4 and min(seen.values()) > 20


def test_bursts_share_an_identity_or_an_ip(parsed: list[tuple[GeneratedEvent, Lead]]) -> None:
    groups: dict[tuple[str, str], list[Lead]] = defaultdict(list)
    for e, lead in parsed[:-300]:  # a burst that starts near the end still has a tail to come
        if e.fraud == "velocity_email":
            assert lead.email is not None
            groups[(e.fraud, canonical_email(lead.email))].append(lead)
        elif e.fraud == "velocity_phone":
            assert lead.phone is not None
            groups[(e.fraud, lead.phone)].append(lead)
        elif e.fraud in ("velocity_ip", "bot_timing"):
            assert lead.ip is not None
            groups[(e.fraud, lead.ip)].append(lead)
    assert {pattern for pattern, _ in groups} == {
        "velocity_email", "velocity_phone", "velocity_ip", "bot_timing",
    }  # fmt: skip
    sizes = Counter(len(leads) >= 2 for leads in groups.values())
    assert sizes[True] >= 0.9 * sum(sizes.values())  # bursts, bar those cut by the end
    for (pattern, _), leads in groups.items():
        if pattern == "bot_timing":
            assert len({lead.event_time for lead in leads}) == 1  # the same second
            assert len({lead.email or lead.phone for lead in leads}) == len(leads)
        elif pattern != "velocity_ip":
            assert len({(lead.city, lead.state) for lead in leads}) > 1  # many places


def test_duplicates_resend_an_earlier_person_about_the_same_place(
    mixed: list[GeneratedEvent],
) -> None:
    by_id = {e.lead_id: (i, e) for i, e in enumerate(mixed) if e.lead_id}
    checked = Counter()
    for i, e in enumerate(mixed):
        if e.duplicate_of is None:
            continue
        j, first = by_id[e.duplicate_of]
        assert j < i and first.valid and first.fraud is None and first.duplicate_of is None
        assert e.lead_id != first.lead_id
        a, b = _lead(first), _lead(e)
        same_contact = (a.email and a.email == b.email) or (a.phone and a.phone == b.phone)
        assert same_contact
        ra, rb = h3_cells(a.lat, a.lon).r8, h3_cells(b.lat, b.lon).r8
        assert ra == rb or h3.are_neighbor_cells(ra, rb)
        assert abs(e.event_ms - first.event_ms) < 24 * 3600 * 1000
        checked["cross-source" if e.source != first.source else "same source"] += 1
    assert checked["same source"] > 50 and checked["cross-source"] > 5


def test_same_seed_same_fraud() -> None:
    def run() -> list[tuple[bytes, str | None, str | None]]:
        generator = TrafficGenerator(
            ALL_SOURCES, seed=3, fraud_share=0.3, duplicate_share=0.1, clock=lambda: NOW
        )
        return [(e.value, e.fraud, e.duplicate_of) for e in generator.take(800)]

    assert run() == run()


def test_without_an_ip_source_no_ip_pattern_is_drawn() -> None:
    generator = TrafficGenerator(("portal", "facebook"), seed=4, fraud_share=0.5, clock=lambda: NOW)
    patterns = {e.fraud for e in generator.take(2000) if e.fraud}
    assert patterns == set(PATTERNS) - {"velocity_ip", "bot_timing"}


def test_shares_are_checked() -> None:
    with pytest.raises(ValueError, match="fraud_share"):
        TrafficGenerator(fraud_share=1.5)
    with pytest.raises(ValueError, match="below 1"):
        TrafficGenerator(fraud_share=0.6, duplicate_share=0.5)


def test_stamp_ip_finds_or_adds_the_client_ip() -> None:
    form = {"name": "Jane", "IP Address": "1.1.1.1"}
    assert stamp_ip("webform", form, {}, "9.9.9.9") == ({**form, "IP Address": "9.9.9.9"}, {})
    nested = {"id": "x", "fields": {"remote_ip": "1.1.1.1"}}
    assert stamp_ip("webform", nested, {}, "9.9.9.9")[0]["fields"] == {"remote_ip": "9.9.9.9"}
    proxied = stamp_ip("webform", {}, {"x-forwarded-for": "1.1.1.1, 10.0.0.1"}, "9.9.9.9")
    assert proxied == ({}, {"x-forwarded-for": "9.9.9.9"})
    assert stamp_ip("webform", {}, {}, "9.9.9.9") == ({}, {"x-forwarded-for": "9.9.9.9"})
    crm = {"properties": {"email": {"value": "a@b.co"}}}
    stamped = stamp_ip("crm", crm, {}, "9.9.9.9")
    assert stamped is not None and stamped[0]["properties"]["ip_address"] == {"value": "9.9.9.9"}
    assert stamp_ip("portal", {"contact": {}}, {}, "9.9.9.9") is None
