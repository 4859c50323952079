"""The fused per-lead ingest stage: raw bytes in, a scored lead out, or a reason why not.

parse → validate → enrich (H3) → features → score, in one call, so a lead pays
no Kafka hop between stages (DESIGN decision 2). Every failure is a
`LeadRejected` with a reason code; the agent turns it into a dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from schemas.lead import ScoredLead
from streams.enrich import enrich
from streams.features import lead_features
from streams.model import ConversionModel
from streams.parse import parse
from streams.validate import validate


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_bytes: int = 64 * 1024
    max_age: timedelta = timedelta(days=30)
    max_skew: timedelta = timedelta(minutes=5)


def ingest_one(
    source: str,
    raw: bytes,
    *,
    received: datetime,
    produced_ms: int,
    limits: IngestLimits,
    model: ConversionModel,
) -> ScoredLead:
    """Turn one raw source event into a scored lead; raises `LeadRejected` with a reason."""
    lead = parse(source, raw, received, max_bytes=limits.max_bytes)
    lead = validate(lead, received, max_age=limits.max_age, max_skew=limits.max_skew)
    cells = enrich(lead)
    features = lead_features(lead)
    score = model.score_one(features)
    return ScoredLead(
        **msgspec.structs.asdict(lead),
        h3_r7=cells.r7,
        h3_r8=cells.r8,
        h3_r9=cells.r9,
        score=score,
        model_version=model.version,
        features=features,
        produced_ms=produced_ms,
        scored_ms=int(received.timestamp() * 1000),
    )

