"""The ingest stage: raw bytes in, a scored lead out, or a reason why not.

parse → validate → enrich (H3) → dedupe → fraud screen → features → score, with no Kafka
hop between steps (DESIGN decision 2). Every failure is a `LeadRejected` with a reason
code; the agent turns it into a dead letter. State is passed in explicitly: the scorer
(champion/challenger models), the fraud screen and the dedupe mapping (a Faust table in
the worker). The scorer's serving arm predicts once and explains from the same transform;
the lead carries its score, arm, model version, reason codes and feature snapshot.

The worker runs a batch step by step (`prepare` each event, then `score_prepared` the
batch): each step's code and data stay hot in the CPU caches over the batch, which costs
~25-30 % less than one event at a time through every step (BENCHMARKS.md, "Staged
ingest"). The stateful steps still take the leads in arrival order, and each reads only
its own state and the earlier steps' outputs for the same lead, so the results are the
ones `ingest_one`, one event at a time, gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import msgspec

from schemas.contract import CLIENT_IP_HEADER
from schemas.lead import Lead, ScoredLead
from streams.dedupe import MissedLink, find_original
from streams.enrich import H3Cells, enrich
from streams.features.lead import lead_features
from streams.features.store import LeadFeatureStore
from streams.fraud.screen import CLEAN, FraudScreen, FraudVerdict
from streams.parse.decode import NO_HEADERS
from streams.parse.normalize import normalize_ip
from streams.parse.partner_mappings import PartnerRegistry
from streams.parse.registry import parse
from streams.scoring.arms import Scorer
from streams.validate import validate


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """What the ingest stage is told (limits, partner feeds), not what it learns."""

    max_bytes: int = 64 * 1024
    max_age: timedelta = timedelta(days=30)
    max_skew: timedelta = timedelta(minutes=5)
    dedupe_window: timedelta = timedelta(hours=72)
    partners: PartnerRegistry | None = None  # partner CSV feeds; None: the bundled registry


@dataclass(slots=True)
class IngestState:
    """Everything the ingest stage remembers between leads."""

    scorer: Scorer
    screen: FraudScreen
    first_lead_by_contact: MutableMapping[str, str]
    # Stateful features (behaviour, density, market, …): read before the lead is counted.
    stores: Sequence[LeadFeatureStore] = ()
    # Originals that turned out to duplicate an earlier-dated lead: the caller re-sends them.
    missed_links: list[MissedLink] = field(default_factory=list)


class Prepared(NamedTuple):
    """A raw event through the stateless steps: parsed, validated and located."""

    lead: Lead
    cells: H3Cells
    produced_ms: int


# What became of an event: its scored lead, or why not (`LeadRejected` with a reason; any
# other exception is a bug, which the caller dead-letters as such).
Outcome = ScoredLead | Exception


def prepare(source: str, raw: bytes, *, received: datetime, produced_ms: int,
            config: IngestConfig, headers: Mapping[str, str] = NO_HEADERS) -> Prepared:
    """parse → validate → H3: the steps that need no state; raises `LeadRejected`."""
    lead = parse(source, raw, received, max_bytes=config.max_bytes, headers=headers,
                 partners=config.partners)
    lead = validate(lead, received, max_age=config.max_age, max_skew=config.max_skew)
    if lead.ip is None and CLIENT_IP_HEADER in headers:
        lead = msgspec.structs.replace(lead, ip=normalize_ip(headers[CLIENT_IP_HEADER]))
    return Prepared(lead, enrich(lead), produced_ms)


def score_prepared(batch: Sequence[Prepared | Exception], *, received: datetime,
                   config: IngestConfig, state: IngestState) -> list[Outcome]:
    """dedupe → fraud screen → features → score over `batch`, one step at a time.

    An exception in the batch (a rejection by `prepare`) is its own outcome, and so is
    one a step raises for a lead (a bug: that lead stops, the others go on). Returns one
    outcome per item, in order, but stops after a lead that displaced an original
    (`state.missed_links` grew): the caller re-sends the displaced lead linked, which
    rewrites the dedupe table, before the rest of the batch is looked up in it.
    """
    received_ms = int(received.timestamp() * 1000)
    window_ms = int(config.dedupe_window.total_seconds() * 1000)
    outcomes: list[Outcome | None] = [None] * len(batch)
    working: list[_Working] = []
    originals, missed = state.first_lead_by_contact, state.missed_links
    missed_before = len(missed)
    for at, item in enumerate(batch):
        if isinstance(item, Exception):
            outcomes[at] = item
            continue
        lead = item.lead
        try:
            duplicate_of = find_original(lead, item.cells.r8,
                                         int(lead.event_time.timestamp() * 1000), window_ms,
                                         originals, missed)
        except Exception as exc:
            outcomes[at] = exc
            continue
        working.append(_Working(at, lead, item.cells, item.produced_ms, duplicate_of))
        if len(missed) > missed_before:
            del outcomes[at + 1:]
            break

    screen_one = state.screen.screen_one

    def screen(w: _Working) -> None:
        w.verdict = screen_one(w.lead, w.cells.r7, received_ms)

    stores = state.stores

    def read_and_count(w: _Working) -> None:
        lead, cells = w.lead, w.cells
        features = w.features = lead_features(lead)
        for store in stores:
            features.update(store.features(lead, cells, received_ms))
        # Fakes and repeats must not shape what real leads are compared with.
        if w.duplicate_of is None and not w.verdict.quarantined:
            for store in stores:
                store.observe(lead, cells, received_ms)

    score_one = state.scorer.score_one

    def score(w: _Working) -> None:
        scored = score_one(w.lead.lead_id, w.features)
        verdict, cells = w.verdict, w.cells
        outcomes[w.at] = ScoredLead(
            **msgspec.structs.asdict(w.lead),
            h3_r7=cells.r7,
            h3_r8=cells.r8,
            h3_r9=cells.r9,
            score=scored.score,
            model_version=scored.model_version,
            arm=scored.arm,
            reasons=scored.reasons,
            features=w.features,
            produced_ms=w.produced_ms,
            scored_ms=received_ms,
            duplicate_of=w.duplicate_of,
            fraud_score=verdict.score,
            fraud_reasons=list(verdict.reasons),
            quarantined=verdict.quarantined,
        )

    for step in (screen, read_and_count, score):
        working = _each(working, step, outcomes)
    return outcomes  # type: ignore[return-value]  # every slot is filled by now


def ingest_one(
    source: str,
    raw: bytes,
    *,
    received: datetime,
    produced_ms: int,
    config: IngestConfig,
    state: IngestState,
    headers: Mapping[str, str] = NO_HEADERS,
) -> ScoredLead:
    """Turn one raw source event into a scored lead; raises `LeadRejected` with a reason."""
    prepared = prepare(source, raw, received=received, produced_ms=produced_ms,
                       config=config, headers=headers)
    outcome = score_prepared((prepared,), received=received, config=config, state=state)[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


@dataclass(slots=True)
class _Working:
    """A lead between the steps of `score_prepared`."""

    at: int  # its place in the batch
    lead: Lead
    cells: H3Cells
    produced_ms: int
    duplicate_of: str | None
    verdict: FraudVerdict = CLEAN
    features: dict[str, float] = field(default_factory=dict)


def _each(working: list[_Working], step: Callable[[_Working], None],
          outcomes: list[Outcome | None]) -> list[_Working]:
    """Run `step` on each lead in order; a lead it raises for ends there, with that
    exception as its outcome. Returns the leads still going."""
    failed = False
    for w in working:
        try:
            step(w)
        except Exception as exc:
            outcomes[w.at] = exc
            failed = True
    return [w for w in working if outcomes[w.at] is None] if failed else working
