"""What the marketplace API shows: `…Public` shapes, separate from the internal records.

A lead's public card never carries contact details, its street or exact point, or its
message; those are revealed by a purchase, not by browsing.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from infra.keystore import ApiKey
from streams.serve.ranking import LeadCard


class LeadPublic(BaseModel):
    """A lead as a buyer may see it before buying."""

    lead_id: str
    source: str
    intent: str
    property_type: str | None
    price: float | None = Field(description="The stated price (a monthly rent for rentals).")
    beds: int | None
    city: str | None
    state: str | None
    zip: str | None
    cell: str = Field(description="The lead's H3 res-7 cell (hex).")
    listing_id: str | None
    score: float = Field(description="Conversion score, decayed to the time of this answer.")
    reasons: list[str] = Field(description="What raised or lowered the score.")
    lead_price: float = Field(description="What the lead sells for, USD.")
    age_seconds: float
    created_ms: int
    scored_ms: int = Field(description="When the lead entered the market (epoch ms).")

    @classmethod
    def of(cls, card: LeadCard, score_now: float, now_ms: int) -> LeadPublic:
        return cls(lead_id=card.lead_id, source=card.source, intent=card.intent,
                   property_type=card.property_type, price=card.price, beds=card.beds,
                   city=card.city, state=card.state, zip=card.zip, cell=f"{card.h3_r7:x}",
                   listing_id=card.listing_id, score=round(score_now, 6),
                   reasons=list(card.reasons), lead_price=card.lead_price,
                   age_seconds=max(0.0, (now_ms - card.created_ms) / 1000),
                   created_ms=card.created_ms, scored_ms=card.scored_ms)


class FitPublic(BaseModel):
    """Why the lead fits this buyer: each factor in [0, 1] (1: exactly what was asked)."""

    area: float
    price: float
    property_type: float
    intent: float
    budget: float


class RecommendationPublic(BaseModel):
    lead: LeadPublic
    value: float = Field(description="Expected value for you (score x fit), decayed to now: "
                                     "what the order is by.")
    fit: float
    why: FitPublic


class RecommendationsPage(BaseModel):
    items: list[RecommendationPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null "
                                                "on the last page.")
    cells: int = Field(description="How many res-7 cells the query covered.")


class ApiKeyPublic(BaseModel):
    key_id: str
    kind: str
    buyer_id: str
    scopes: list[str]
    origins: list[str]
    created_ms: int
    revoked_ms: int
    label: str

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyPublic:
        return cls(key_id=key.key_id, kind=key.kind, buyer_id=key.buyer_id,
                   scopes=list(key.scopes), origins=list(key.origins),
                   created_ms=key.created_ms, revoked_ms=key.revoked_ms, label=key.label)


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself: shown once, stored only as a hash.")


class NewApiKey(BaseModel):
    model_config = {"extra": "forbid"}

    buyer_id: str = Field(default="", description="The buyer; empty for an admin key.")
    scopes: list[str] | None = Field(default=None, description="Default: all buyer scopes.")
    publishable: bool = False
    origins: list[str] = Field(default_factory=list,
                               description="Publishable keys: websites allowed to embed.")
    label: str = Field(default="", max_length=200)
