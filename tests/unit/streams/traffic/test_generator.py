"""The traffic generator: deterministic, realistic, honest about what each event becomes."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
import phonenumbers
import pytest
import zipcodes

from schemas.raw import FacebookLead, PortalInquiry
from streams.errors import REASON_CODES, LeadRejected
from streams.identity import lead_id
from streams.ingest import IngestConfig
from streams.parse.registry import parse
from streams.traffic.formats import RENDERERS
from streams.traffic.generator import DEFECTS, GeneratedEvent, TrafficGenerator, generate
from streams.traffic.ground_truth import (
    TruthFeatures,
    conversion_probability,
    draw_outcome,
    oracle_auc,
)
from streams.traffic.pace import TokenBucket
from streams.traffic.places import Gazetteer
from streams.validate import validate

NOW = datetime(2026, 5, 1, 17, 30, tzinfo=UTC)
DECODERS = {
    "portal": msgspec.json.Decoder(PortalInquiry),
    "facebook": msgspec.json.Decoder(FacebookLead),
}


@pytest.fixture(scope="module")
def sample() -> list[GeneratedEvent]:
    return generate(6000, seed=7, malformed_share=0.03, now=NOW)


@pytest.fixture(scope="module")
def valid(sample: list[GeneratedEvent]) -> list[GeneratedEvent]:
    return [e for e in sample if e.valid]


def _fields(lead: FacebookLead) -> dict[str, str]:
    return {f.name: str(f.values[0]) for f in lead.field_data if f.values}


def _place(event: GeneratedEvent) -> tuple[str, str, str]:
    """(zip, city, state) as the event states them."""
    if event.source == "portal":
        address = DECODERS["portal"].decode(event.value).listing.address
        return address.zip, address.city, address.state
    fields = _fields(DECODERS["facebook"].decode(event.value))
    return fields["zip_code"], fields["city"], fields["state"]


def _phone(event: GeneratedEvent) -> str | None:
    if event.source == "portal":
        contact = DECODERS["portal"].decode(event.value).contact
        return contact.phone if contact else None
    return _fields(DECODERS["facebook"].decode(event.value)).get("phone_number")


def test_same_seed_same_bytes() -> None:
    a = generate(300, seed=11, malformed_share=0.2, now=NOW)
    b = generate(300, seed=11, malformed_share=0.2, now=NOW)
    c = generate(300, seed=12, malformed_share=0.2, now=NOW)
    assert [(e.key, e.value, e.expected) for e in a] == [(e.key, e.value, e.expected) for e in b]
    assert [e.value for e in a] != [e.value for e in c]


def test_clock_moves_event_times_only() -> None:
    clock = iter(NOW + timedelta(seconds=i) for i in range(10**6))
    ticking = TrafficGenerator(seed=3, clock=lambda: next(clock)).take(200)
    fixed = generate(200, seed=3, now=NOW)
    assert [e.expected for e in ticking] == [e.expected for e in fixed]
    assert ticking[-1].event_ms > fixed[-1].event_ms


def test_malformed_share_is_close_to_the_parameter() -> None:
    events = generate(8000, seed=5, malformed_share=0.1, now=NOW)
    share = sum(e.defect is not None for e in events) / len(events)
    assert share == pytest.approx(0.1, abs=0.015)
    assert all((e.defect is None) == e.valid for e in events)
    assert all(e.valid for e in generate(2000, seed=5, malformed_share=0.0, now=NOW))


def test_every_defect_and_its_reason_code_occur() -> None:
    events = generate(4000, seed=9, malformed_share=1.0, now=NOW)
    assert {e.defect for e in events} == set(DEFECTS)
    assert {e.expected for e in events} <= set(REASON_CODES)
    by_defect = {e.defect: e.expected for e in events if e.defect != "bad_contacts"}
    assert all(DEFECTS[d][1] == code for d, code in by_defect.items())


def test_malformed_events_are_what_they_say(sample: list[GeneratedEvent]) -> None:
    events = generate(3000, seed=4, malformed_share=1.0, now=NOW)
    for e in events:
        if e.expected == "bad_encoding":
            with pytest.raises(UnicodeDecodeError):
                e.value.decode()
        elif e.expected == "bad_json":
            with pytest.raises(msgspec.DecodeError):
                msgspec.json.decode(e.value)
        elif e.expected == "bad_shape":
            with pytest.raises(msgspec.ValidationError):
                DECODERS[e.source].decode(e.value)
            assert e.lead_id is None
        else:  # the document parses; its content is what is wrong
            DECODERS[e.source].decode(e.value)
            assert e.lead_id is not None
        assert e.p == 0.0


def test_timestamps_are_near_now_and_defects_clear_the_limits() -> None:
    events = generate(3000, seed=6, malformed_share=0.3, now=NOW)
    now_ms = NOW.timestamp() * 1000
    for e in events:
        age_s = (now_ms - e.event_ms) / 1000
        if e.expected == "too_old":
            assert age_s > 31 * 86400
        elif e.expected == "in_future":
            assert age_s < -3600
        else:
            assert 0 <= age_s <= 900
    portal = next(e for e in events if e.valid and e.source == "portal")
    facebook = next(e for e in events if e.valid and e.source == "facebook")
    assert DECODERS["portal"].decode(portal.value).submitted_at.endswith("Z")
    created = DECODERS["facebook"].decode(facebook.value).created_time
    assert datetime.strptime(created, "%Y-%m-%dT%H:%M:%S%z").tzinfo is not None
    assert created.endswith("+0000")


def test_valid_events_decode_with_the_raw_shapes(valid: list[GeneratedEvent]) -> None:
    for e in valid:
        raw = DECODERS[e.source].decode(e.value)
        source_id = raw.inquiry_id if isinstance(raw, PortalInquiry) else raw.id
        assert e.key == source_id.encode()
        assert e.lead_id == lead_id(e.source, source_id)
    assert {e.source for e in valid} == {"portal", "facebook"}


def test_places_are_real(valid: list[GeneratedEvent]) -> None:
    for e in valid[:1500]:
        code, city, state = _place(e)
        (row,) = zipcodes.matching(code)
        assert row["state"] == state
        assert city == row["city"] or city in row["acceptable_cities"]


def test_listing_coordinates_are_near_their_zip(valid: list[GeneratedEvent]) -> None:
    for e in valid[:1500]:
        if e.source != "portal":
            continue
        listing = DECODERS["portal"].decode(e.value).listing
        if listing.lat is None:
            continue
        (row,) = zipcodes.matching(listing.address.zip)
        assert abs(listing.lat - float(row["lat"])) < 0.1
        assert abs(listing.lon - float(row["long"])) < 0.1


def test_prices_fit_the_area() -> None:
    events = generate(8000, sources=("portal",), seed=2, malformed_share=0.0, now=NOW)
    prices: dict[str, list[float]] = {"CA": [], "OH": []}
    for e in events:
        listing = DECODERS["portal"].decode(e.value).listing
        if listing.address.state in prices and listing.price > 20_000:  # sales, not rents
            prices[listing.address.state].append(listing.price)
    assert len(prices["CA"]) > 100
    assert len(prices["OH"]) > 30
    assert statistics.median(prices["CA"]) > 2 * statistics.median(prices["OH"])


def test_rents_are_monthly_and_beds_follow_price() -> None:
    events = generate(4000, sources=("portal",), seed=8, malformed_share=0.0, now=NOW)
    inquiries = [DECODERS["portal"].decode(e.value) for e in events]
    rents = [i.listing.price for i in inquiries if i.intent == "rent"]
    assert 800 < statistics.median(rents) < 5000
    homes = [i.listing for i in inquiries if i.intent == "buy" and i.listing.beds is not None]
    small = [h.price for h in homes if h.beds <= 2 and h.property_type == "single_family"]
    big = [h.price for h in homes if h.beds >= 4 and h.property_type == "single_family"]
    assert statistics.median(big) > statistics.median(small)


def test_phones_of_valid_events_are_valid_us_numbers(valid: list[GeneratedEvent]) -> None:
    checked = 0
    for e in valid[:3000]:
        phone = _phone(e)
        if phone is None:
            continue
        number = phonenumbers.parse(phone, "US")
        if len(phonenumbers.national_significant_number(number)) != 10:
            continue  # the clean lead's one broken contact of two
        assert phonenumbers.is_valid_number(number), phone
        assert phonenumbers.region_code_for_number(number) == "US", phone
        checked += 1
    assert checked > 2000


def test_phone_formats_vary(valid: list[GeneratedEvent]) -> None:
    phones = [p for p in map(_phone, valid[:2000]) if p]
    assert any(p.startswith("(") for p in phones)
    assert any(p.startswith("+1") for p in phones)
    assert any("." in p for p in phones)


def test_contacts_include_unicode_names_and_common_domains(valid: list[GeneratedEvent]) -> None:
    text = b"".join(e.value for e in valid).decode()
    assert any(name in text for name in ("José", "Zoë", "Nguyễn", "李"))
    domains = Counter(
        part.split('"')[0].lower() for part in text.split("@")[1:] if part[:1].isalpha()
    )
    assert domains.most_common(1)[0][0] == "gmail.com"


def test_base_rate_and_oracle_auc() -> None:
    rng = np.random.default_rng(0)
    probs: list[float] = []
    for hour in range(0, 24, 3):
        now = NOW.replace(hour=hour)
        probs += [e.p for e in generate(2500, seed=hour, malformed_share=0.0, now=now)]
    p = np.array(probs)
    labels = rng.random(p.size) < p
    assert 0.04 < p.mean() < 0.12
    assert oracle_auc(p, labels) > 0.7


def test_oracle_auc_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, 300).astype(float)  # many ties
    labels = rng.random(300) < 0.3
    pos, neg = scores[labels], scores[~labels]
    pairwise = ((pos[:, None] > neg).sum() + 0.5 * (pos[:, None] == neg).sum()) / (
        pos.size * neg.size
    )
    assert oracle_auc(scores, labels) == pytest.approx(pairwise)
    with pytest.raises(ValueError, match="both"):
        oracle_auc([0.1, 0.2], [True, True])


def test_ground_truth_prefers_phone_consent_and_fitting_prices() -> None:
    base = TruthFeatures(
        source="portal",
        intent="buy",
        property_type="single_family",
        price=400_000,
        area_median_price=400_000,
        beds=3,
        has_email=True,
        has_phone=True,
        consent=True,
        message_words=8,
        hour_utc=17.0,
    )
    p = conversion_probability(base)
    worse = (
        msgspec.structs.replace(base, has_phone=False),
        msgspec.structs.replace(base, consent=False),
        msgspec.structs.replace(base, price=4_000_000),
        msgspec.structs.replace(base, intent="rent", price=2200),
        msgspec.structs.replace(base, email_reachable=False),
    )
    assert all(conversion_probability(f) < p for f in worse)


def test_outcomes_follow_p() -> None:
    rng = random.Random(0)
    outcomes = [draw_outcome("x", 0.3, rng, 1) for _ in range(4000)]
    assert sum(o.converted for o in outcomes) / 4000 == pytest.approx(0.3, abs=0.03)
    kinds = Counter(o.kind for o in outcomes)
    assert set(kinds) == {"conversion", "purchase", "no_conversion"}
    assert all(o.amount and o.buyer_id for o in outcomes if o.kind == "purchase")


def test_generator_outcomes_do_not_shift_the_events() -> None:
    a = TrafficGenerator(seed=1, clock=lambda: NOW)
    b = TrafficGenerator(seed=1, clock=lambda: NOW)
    for _ in range(100):
        event = a.next_event()
        if event.valid:
            delay, outcome = a.outcome(event, 5.0)
            assert delay >= 0
            assert outcome.lead_id == event.lead_id
            assert outcome.occurred_ms >= NOW.timestamp() * 1000
        assert b.next_event().value == event.value


def test_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="fax"):
        TrafficGenerator(("portal", "fax"))


def test_token_bucket_paces_without_bursting_past_capacity() -> None:
    bucket = TokenBucket(rate=100.0, burst=10, now=0.0)
    assert [bucket.wait(0.0) for _ in range(10)] == [0.0] * 10
    assert bucket.wait(0.0) == pytest.approx(0.01)
    # A long pause refills to the burst, never more.
    assert bucket.wait(100.0) == 0.0
    sent = 1 + sum(bucket.wait(100.0) == 0.0 for _ in range(50))
    assert sent == 10


def _ingest_verdict(event: GeneratedEvent) -> str:
    """What the ingest path's parse and validate steps make of an event."""
    config = IngestConfig()
    try:
        lead = parse(event.source, event.value, NOW, max_bytes=config.max_bytes)
        validate(lead, NOW, max_age=config.max_age, max_skew=config.max_skew)
    except LeadRejected as exc:
        return exc.reason
    assert lead.lead_id == event.lead_id
    return "valid"


def test_the_parsers_agree_with_every_expected_outcome() -> None:
    events = generate(8000, seed=21, malformed_share=0.25, now=NOW)
    verdicts = Counter((e.expected, _ingest_verdict(e)) for e in events)
    disagreements = {pair: n for pair, n in verdicts.items() if pair[0] != pair[1]}
    assert not disagreements
    assert {expected for expected, _ in verdicts} >= {"valid", *(c for _, c in DEFECTS.values())}


def test_the_hidden_p_is_a_function_of_the_parsed_lead(valid: list[GeneratedEvent]) -> None:
    median_by_zip = {z.code: p.median_price for p in Gazetteer.load().places for z in p.zips}
    same = 0
    for e in valid:
        lead = parse(e.source, e.value, NOW)
        p = conversion_probability(TruthFeatures.from_lead(lead, median_by_zip[lead.zip]))
        same += p == pytest.approx(e.p)
    # The rest are soft email typos (gmial.com): valid to a parser, unreachable in truth.
    assert same / len(valid) > 0.95


def test_fraud_and_duplicates_are_off_by_default() -> None:
    events = generate(2000, sources=tuple(RENDERERS), seed=17, now=NOW)
    assert all(e.fraud is None and e.duplicate_of is None for e in events)
    explicit = TrafficGenerator(
        tuple(RENDERERS), seed=17, fraud_share=0.0, duplicate_share=0.0, clock=lambda: NOW
    ).take(2000)
    assert [e.value for e in explicit] == [e.value for e in events]
    # Headers travel with the value: a web form says what its body is.
    assert any("content-type" in e.headers for e in events if e.source == "webform")


def test_the_parsers_agree_on_every_source_including_partner_only_defects() -> None:
    events = generate(5000, sources=tuple(RENDERERS), seed=23, malformed_share=0.3, now=NOW)
    config = IngestConfig()
    disagreements = Counter()
    for e in events:
        try:
            lead = parse(e.source, e.value, NOW, headers=e.headers)
            validate(lead, NOW, max_age=config.max_age, max_skew=config.max_skew)
            verdict = "valid"
        except LeadRejected as exc:
            verdict = exc.reason
        if verdict != e.expected:
            disagreements[(e.source, e.defect, e.expected, verdict)] += 1
    assert not disagreements
    assert any(e.defect == "unknown_partner" for e in events)
    assert all(e.source == "partner" for e in events if e.defect == "unknown_partner")
