"""The canonical lead, whatever its source, and the scored lead that leaves the ingest stage."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Intent = Literal["buy", "sell", "rent", "unknown"]
LocationPrecision = Literal["exact", "zip", "city", "none"]


class Lead(msgspec.Struct, kw_only=True, frozen=True):
    """One person's inquiry about real estate, normalised from any source format."""

    lead_id: str  # deterministic: see `streams.identity.lead_id`
    source: str
    source_lead_id: str
    event_time: datetime
    received_time: datetime
    first_name: str = ""
    last_name: str = ""
    email: str | None = None  # normalised (lower-case, trimmed)
    phone: str | None = None  # E.164
    intent: Intent = "unknown"
    property_type: str | None = None
    price: float | None = None  # listing price or stated budget, USD
    beds: int | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None  # two-letter USPS code
    zip: str | None = None
    lat: float | None = None
    lon: float | None = None
    location_precision: LocationPrecision = "none"
    consent: bool = False
    message: str = ""
    listing_id: str | None = None
    campaign_id: str | None = None  # ad id / form id / partner id
    ip: str | None = None  # the submitter's address, where the source knows it


class ScoredLead(Lead, kw_only=True, frozen=True):
    """A lead after enrichment and scoring: the value of `leads.scored`."""

    h3_r7: int = 0
    h3_r8: int = 0
    h3_r9: int = 0
    score: float = 0.0  # conversion probability in [0, 1]
    model_version: str = ""
    # The model inputs as scored: the learn agent joins outcomes to this snapshot,
    # because stateful features (density, market, behaviour) cannot be recomputed later.
    features: dict[str, float] = {}
    produced_ms: int = 0  # Kafka timestamp of the raw event
    scored_ms: int = 0
    # Kept, linked to the first lead, never sold: the same person about the same area.
    duplicate_of: str | None = None
    fraud_score: float = 0.0  # in [0, 1]
    fraud_reasons: list[str] = []
    quarantined: bool = False  # fraud_score at or over the threshold: never sold
    arm: str = "champion"  # which model served the score (champion/challenger hash split)
    reasons: list[str] = []  # reason codes: the features that pushed the score most


class FeatureSnapshot(msgspec.Struct, frozen=True):
    """A scored lead's model inputs as scored, for the learning join: the items of a
    `leads.snapshots` message, a list of the leads of one `leads.scored` partition."""

    lead_id: str
    features: dict[str, float]
    scored_ms: int = 0

