"""`GET /v1/recommendations`: the calling buyer's best leads near a point, in a cell, or in
the buyer's own areas, filtered, ranked by expected value decayed to now, paged by cursor."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.auth import Caller, require
from api.errors import ApiError, error_responses
from api.models import FitPublic, LeadPublic, RecommendationPublic, RecommendationsPage
from api.query import SelectionDep, buyer_for
from api.reco import Recommendations
from infra.settings import Settings
from streams.serve.decay import decayed
from streams.serve.recommend import (
    QueryError,
    decode_cursor,
    encode_cursor,
)

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.get(
    "/recommendations",
    response_model=RecommendationsPage,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="The calling buyer's best leads, ranked by expected value",
)
async def recommendations(
    request: Request,
    caller: Annotated[Caller, Depends(require("recommendations"))],
    selected: SelectionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    buyer_id: Annotated[str | None, Query(max_length=64, description="Admin keys only")] = None,
) -> RecommendationsPage:
    """Near a point (`lat`, `lon`, `radius_km`), in an H3 cell (`cell`, resolution 5-9,
    expanded to the res-7 cells it covers) or, with neither, in the buyer's own areas.
    Premium buyers see a new lead at once, standard buyers after the priority window.
    Held and sold leads never appear. No contact details: those come with a purchase."""
    settings: Settings = request.app.state.settings
    buyer = buyer_for(request, caller, buyer_id)
    area, filters = selected.area, selected.filters
    service: Recommendations = request.app.state.recommendations
    try:
        after = decode_cursor(cursor) if cursor else None
        items, more, cells, as_of = await service.page(buyer, area, filters, limit, after)
    except QueryError as exc:
        raise ApiError(422, "bad_query", str(exc)) from None
    now_ms = int(time.time() * 1000)
    factor = decayed(1.0, as_of, now_ms, settings.score_half_life_hours)
    return RecommendationsPage(
        items=[RecommendationPublic(
            lead=LeadPublic.of(r.card, r.score_now * factor, now_ms),
            value=r.value * factor, fit=round(r.fit, 6), why=FitPublic(**r.why))
            for r in items],
        next_cursor=encode_cursor(items[-1], as_of) if more and items else None,
        cells=cells,
    )
