"""Pull-back of a burst's earlier leads: what is re-sent, what is remembered, the bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from schemas.codec import encode
from schemas.lead import ScoredLead
from streams.enrich import h3_cells
from streams.fraud.pullback import RecentLeads, quarantine_implicated
from streams.fraud.screen import FraudScreen, FraudVerdict
from streams.identity import lead_id

NOW = datetime(2026, 5, 1, 17, 30, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
PLACES = {"austin": (30.2672, -97.7431), "denver": (39.7392, -104.9903),
          "seattle": (47.6062, -122.3321)}  # fmt: skip


def scored(n: int, *, at_ms: int = NOW_MS, where: str = "austin", **fields: object) -> ScoredLead:
    lat, lon = PLACES[where]
    return ScoredLead(
        lead_id=lead_id("portal", f"p-{n}"), source="portal", source_lead_id=f"p-{n}",
        event_time=NOW, received_time=NOW, first_name="Jane", last_name="Doe",
        email="jane.doe@gmail.com", lat=lat, lon=lon, location_precision="exact",
        h3_r7=h3_cells(lat, lon).r7, score=0.3, features={"has_email": 1.0},
        scored_ms=at_ms, **fields,
    )  # fmt: skip


def verdict(*lead_ids: str, reasons: tuple[str, ...] = ("velocity_email",)) -> FraudVerdict:
    return FraudVerdict(0.85, reasons, True, tuple(sorted(lead_ids)))


def remembered(*leads: ScoredLead, **bounds: int) -> RecentLeads:
    recent = RecentLeads(**bounds)
    for one in leads:
        recent.remember(one, encode(one))
    return recent


def test_a_pulled_lead_is_quarantined_with_the_burst_reasons_and_a_newer_version() -> None:
    lead = scored(1, fraud_score=0.15, fraud_reasons=["email_domain_typo"])
    burst = FraudVerdict(0.9, ("gibberish_name", "velocity_ip", "bot_timing"), True, ())
    pulled = quarantine_implicated(lead, burst, NOW_MS + 5_000)
    assert pulled.quarantined and pulled.fraud_score == 0.9
    # Its own reasons stay; of the verdict's, only the burst rules apply to it (the name
    # belonged to the implicating lead); in the screen's reason order.
    assert pulled.fraud_reasons == ["velocity_ip", "bot_timing", "email_domain_typo"]
    assert pulled.scored_ms == NOW_MS + 5_000
    unchanged = ("lead_id", "score", "features", "h3_r7", "email", "event_time")
    assert all(getattr(pulled, name) == getattr(lead, name) for name in unchanged)


def test_the_pulled_version_is_newer_even_when_clocks_disagree() -> None:
    lead = scored(1, at_ms=NOW_MS)
    assert quarantine_implicated(lead, verdict(lead.lead_id), NOW_MS - 60_000).scored_ms == (
        NOW_MS + 1
    )


def test_pull_returns_the_remembered_implicated_leads_once() -> None:
    first, second, bystander = scored(1), scored(2, where="denver"), scored(3)
    recent = remembered(first, second, bystander)
    pulled = recent.pull(verdict(first.lead_id, second.lead_id), NOW_MS + 1_000)
    assert sorted(p.lead_id for p in pulled) == sorted([first.lead_id, second.lead_id])
    assert all(p.quarantined for p in pulled)
    assert bystander.lead_id in recent and first.lead_id not in recent
    # Implicated again through another key of the same burst: nothing is sent twice.
    assert recent.pull(verdict(first.lead_id), NOW_MS + 2_000) == []
    assert (recent.pulled, recent.missed) == (2, 1)


def test_quarantined_leads_are_not_remembered() -> None:
    recent = remembered(scored(1, quarantined=True, fraud_score=0.9))
    assert len(recent) == 0


def test_memory_is_bounded_by_count_oldest_first() -> None:
    leads = [scored(i, at_ms=NOW_MS + i) for i in range(5)]
    recent = remembered(*leads, max_leads=3)
    assert len(recent) == 3
    assert [lead.lead_id in recent for lead in leads] == [False, False, True, True, True]


def test_memory_is_bounded_by_age() -> None:
    old, new = scored(1, at_ms=NOW_MS), scored(2, at_ms=NOW_MS + 61 * 60_000)
    recent = remembered(old, new, max_age_ms=60 * 60_000)
    assert old.lead_id not in recent and new.lead_id in recent


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RecentLeads(max_leads=0)


def test_a_screened_burst_ends_fully_quarantined() -> None:
    # What the ingest agent does: send, remember, then act on the screen's pending verdicts.
    screen, recent = FraudScreen(), RecentLeads()
    final: dict[str, bool] = {}
    for i, where in enumerate(("austin", "denver", "seattle")):
        lead = scored(i, at_ms=NOW_MS + i, where=where)
        at = NOW + timedelta(minutes=i)
        lead = msgspec.structs.replace(lead, event_time=at, received_time=at)
        seen = screen.screen_one(lead, lead.h3_r7, lead.scored_ms)
        lead = msgspec.structs.replace(lead, fraud_score=seen.score,
                                       fraud_reasons=list(seen.reasons),
                                       quarantined=seen.quarantined)
        final[lead.lead_id] = lead.quarantined
        recent.remember(lead, encode(lead))
        for implicating in screen.take_implicating():
            for pulled in recent.pull(implicating, lead.scored_ms):
                final[pulled.lead_id] = pulled.quarantined
    assert list(final.values()) == [True, True, True]
