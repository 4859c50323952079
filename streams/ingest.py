"""The fused per-lead ingest stage: raw bytes in, a scored lead out, or a reason why not.

parse → validate → enrich (H3) → dedupe → fraud screen → features → score, in one
call, so a lead pays no Kafka hop between stages (DESIGN decision 2). Every
failure is a `LeadRejected` with a reason code; the agent turns it into a dead
letter. State is passed in explicitly: the scorer (champion/challenger models),
the fraud screen and the dedupe mapping (a Faust table in the worker). The
scorer's serving arm predicts once and explains from the same transform; the
lead carries its score, arm, model version, reason codes and feature snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from schemas.contract import CLIENT_IP_HEADER
from schemas.lead import ScoredLead
from streams.dedupe import MissedLink, find_original
from streams.enrich import enrich
from streams.features.lead import lead_features
from streams.features.store import LeadFeatureStore
from streams.fraud.screen import FraudScreen
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
    lead = parse(source, raw, received, max_bytes=config.max_bytes, headers=headers,
                 partners=config.partners)
    lead = validate(lead, received, max_age=config.max_age, max_skew=config.max_skew)
    if lead.ip is None and CLIENT_IP_HEADER in headers:
        lead = msgspec.structs.replace(lead, ip=normalize_ip(headers[CLIENT_IP_HEADER]))
    cells = enrich(lead)
    received_ms = int(received.timestamp() * 1000)
    event_ms = int(lead.event_time.timestamp() * 1000)
    duplicate_of = find_original(
        lead, cells.r8, event_ms, int(config.dedupe_window.total_seconds() * 1000),
        state.first_lead_by_contact, state.missed_links,
    )
    verdict = state.screen.screen_one(lead, cells.r7, received_ms)
    features = lead_features(lead)
    for store in state.stores:
        features.update(store.features(lead, cells, received_ms))
    # Fakes and repeats must not shape what real leads are compared with.
    if duplicate_of is None and not verdict.quarantined:
        for store in state.stores:
            store.observe(lead, cells, received_ms)
    scored = state.scorer.score_one(lead.lead_id, features)
    return ScoredLead(
        **msgspec.structs.asdict(lead),
        h3_r7=cells.r7,
        h3_r8=cells.r8,
        h3_r9=cells.r9,
        score=scored.score,
        model_version=scored.model_version,
        arm=scored.arm,
        reasons=scored.reasons,
        features=features,
        produced_ms=produced_ms,
        scored_ms=received_ms,
        duplicate_of=duplicate_of,
        fraud_score=verdict.score,
        fraud_reasons=list(verdict.reasons),
        quarantined=verdict.quarantined,
    )
