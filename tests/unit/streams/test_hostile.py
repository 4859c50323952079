"""The hostile events of the E6 fault scenario, against the per-event path in process:
each must be refused with a reason (`LeadRejected`), never accepted and never crash.

The same strategies feed E6 end to end (`tests/e2e/hostile.py`); a failing example found
here or there is kept below as an `@example` (a regression case).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings

from schemas.contract import PARTNER_HEADER
from streams.errors import LeadRejected
from streams.parse.registry import parse
from streams.validate import validate
from tests.unit.streams.hostile import Hostile, hand_picked, hostile_events

RECEIVED = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


def refused(event: Hostile) -> str:
    """The reason the per-event path gives; fails the test on acceptance or a crash."""
    raw = event.value or b""
    headers = {k: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
               for k, v in event.headers}
    with pytest.raises(LeadRejected) as refusal:
        screen(event.source, raw, headers)
    return refusal.value.reason


def screen(source: str, raw: bytes, headers: dict[str, str]) -> None:
    lead = parse(source, raw, RECEIVED, headers=headers)
    validate(lead, RECEIVED, max_age=timedelta(days=30), max_skew=timedelta(minutes=5))


@pytest.mark.parametrize("event", hand_picked(), ids=lambda e: e.name)
def test_hand_picked_hostile_events_are_refused_with_a_reason(event: Hostile) -> None:
    assert refused(event)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(hostile_events())
@example(Hostile("lone-surrogate-partner-header", "partner", b"a;b;c\r\n",
                 ((PARTNER_HEADER, "\udcff"),)))
@example(Hostile("nan-literal", "portal", b"NaN"))
@example(Hostile("bom-only", "crm", b"\xef\xbb\xbf"))
def test_drawn_hostile_events_are_refused_with_a_reason(event: Hostile) -> None:
    assert refused(event)
