"""The ingest stage over a batch, step by step, gives what it gives one event at a time.

`score_prepared` runs dedupe, the fraud screen, the feature stores and scoring each over
the whole batch in turn (the worker's path); `ingest_one` runs one event through all of
them. On generated traffic with duplicates, fraud bursts and malformed events, every
outcome must encode to the same bytes; a lead that displaces an original ends the batch
there (the worker relinks before the rest is looked up); a step that raises for one lead
costs that lead alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from infra.settings import Settings
from schemas.contract import SOURCES
from schemas.lead import ScoredLead
from streams.dedupe import MissedLink
from streams.errors import LeadRejected
from streams.features.build import feature_stores
from streams.fraud.screen import FraudScreen
from streams.ingest import (
    IngestConfig,
    IngestState,
    Outcome,
    Prepared,
    ingest_one,
    prepare,
    score_prepared,
)
from streams.scoring.arms import Scorer
from streams.traffic.generator import GeneratedEvent, generate

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
CONFIG = IngestConfig()
SETTINGS = Settings()  # the worker's champion and challenger


def fresh_state() -> IngestState:
    scorer = Scorer.from_specs(SETTINGS.model_spec, SETTINGS.challenger_spec or None, seed=1,
                               challenger_share=SETTINGS.challenger_share,
                               reason_codes=SETTINGS.reason_codes)
    return IngestState(scorer=scorer, screen=FraudScreen(), first_lead_by_contact={},
                       stores=feature_stores().all)


def prepared(event: GeneratedEvent) -> Prepared | Exception:
    try:
        return prepare(event.source, event.value, received=NOW, produced_ms=7, config=CONFIG,
                       headers=event.headers)
    except LeadRejected as exc:
        return exc


def one_at_a_time(events: list[GeneratedEvent], state: IngestState) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for event in events:
        try:
            outcomes.append(ingest_one(event.source, event.value, received=NOW, produced_ms=7,
                                       config=CONFIG, state=state, headers=event.headers))
        except LeadRejected as exc:
            outcomes.append(exc)
    return outcomes


def in_batches(events: list[GeneratedEvent], state: IngestState, size: int) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for offset in range(0, len(events), size):
        batch = [prepared(event) for event in events[offset:offset + size]]
        while batch:
            done = score_prepared(batch, received=NOW, config=CONFIG, state=state)
            assert done, "a batch makes progress"
            outcomes += done
            batch = batch[len(done):]
    return outcomes


def encoded(outcome: Outcome) -> bytes:
    if isinstance(outcome, LeadRejected):
        return f"{outcome.reason}: {outcome.detail}".encode()
    assert isinstance(outcome, ScoredLead), outcome
    return msgspec.json.encode(outcome)


@pytest.mark.parametrize("size", [1, 20, 500])
def test_a_batch_step_by_step_gives_what_one_event_at_a_time_gives(size: int) -> None:
    events = generate(3000, sources=SOURCES, seed=11, malformed_share=0.05, fraud_share=0.08,
                      duplicate_share=0.08, now=NOW)
    alone, batched = fresh_state(), fresh_state()
    expected = one_at_a_time(events, alone)
    got = in_batches(events, batched, size)
    assert [encoded(o) for o in got] == [encoded(o) for o in expected]
    # The traffic exercised what the steps share state for.
    leads = [o for o in expected if isinstance(o, ScoredLead)]
    assert sum(o.duplicate_of is not None for o in leads) > 50
    assert sum(o.quarantined for o in leads) > 50
    assert sum(isinstance(o, LeadRejected) for o in expected) > 50
    assert batched.screen.take_implicating() == alone.screen.take_implicating()


def test_a_lead_that_displaces_an_original_ends_the_batch_there() -> None:
    events = generate(40, sources=("portal",), seed=5, now=NOW)
    first, *others = [p for p in map(prepared, events) if isinstance(p, Prepared)]
    seen = first.lead.event_time
    later = first._replace(lead=msgspec.structs.replace(first.lead, lead_id="later",
                                                        event_time=seen))
    earlier = first._replace(lead=msgspec.structs.replace(
        first.lead, lead_id="earlier", event_time=seen - timedelta(hours=1)))
    state = fresh_state()
    outcomes = score_prepared([later, earlier, *others[:5]], received=NOW, config=CONFIG,
                              state=state)
    assert len(outcomes) == 2
    assert all(isinstance(o, ScoredLead) and o.duplicate_of is None for o in outcomes)
    earlier_entry = f"earlier@{int(earlier.lead.event_time.timestamp() * 1000)}"
    assert state.missed_links == [MissedLink("later", "earlier", earlier_entry)]
    rest = score_prepared(others[:5], received=NOW, config=CONFIG, state=state)
    assert len(rest) == 5


class FailsFor:
    """A feature store that raises for one lead (a bug), and counts what it saw."""

    def __init__(self, lead_id: str) -> None:
        self.lead_id = lead_id
        self.observed: list[str] = []

    def features(self, lead: object, cells: object, now_ms: int) -> dict[str, float]:
        if lead.lead_id == self.lead_id:  # type: ignore[attr-defined]
            raise ZeroDivisionError("a bug")
        return {}

    def observe(self, lead: object, cells: object, now_ms: int) -> None:
        self.observed.append(lead.lead_id)  # type: ignore[attr-defined]


def test_a_step_that_raises_for_one_lead_costs_that_lead_alone() -> None:
    events = generate(30, sources=("portal", "webform"), seed=9, now=NOW)
    batch = [p for p in map(prepared, events) if isinstance(p, Prepared)][:10]
    broken = FailsFor(batch[4].lead.lead_id)
    state = fresh_state()
    state.stores = (broken,)  # type: ignore[assignment]
    outcomes = score_prepared(batch, received=NOW, config=CONFIG, state=state)
    assert isinstance(outcomes[4], ZeroDivisionError)
    assert [type(o) for i, o in enumerate(outcomes) if i != 4] == [ScoredLead] * 9
    assert batch[4].lead.lead_id not in broken.observed
    assert len(broken.observed) == 9
