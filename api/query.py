"""What the buyer-facing routes share: reading an area from a query, and whose view it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from api.auth import Caller
from api.errors import ApiError
from schemas.market import Buyer
from streams.serve.recommend import Area, Filters, InCell, Near, OwnAreas


def area_of(lat: float | None, lon: float | None, radius_km: float | None,
          cell: str | None) -> Area:
    near = (lat, lon, radius_km)
    if cell is not None:
        if any(v is not None for v in near):
            raise ApiError(422, "ambiguous_area", "Give either cell, or lat+lon+radius_km, "
                           "or neither (your own areas), not both.")
        try:
            return InCell(int(cell, 16))
        except ValueError:
            raise ApiError(422, "bad_cell", f"cell {cell[:32]!r} is not an H3 cell in hex.") \
                from None
    if all(v is None for v in near):
        return OwnAreas()
    if any(v is None for v in near):
        raise ApiError(422, "incomplete_point", "A point query needs lat, lon and radius_km.")
    return Near(lat, lon, radius_km)  # type: ignore[arg-type]


def buyer_for(request: Request, caller: Caller, buyer_id: str | None) -> Buyer:
    if buyer_id is None or buyer_id == caller.buyer_id:
        if caller.buyer is None:
            raise ApiError(422, "buyer_required", "An admin key must name buyer_id.")
        return caller.buyer
    if not caller.key.admin:
        raise ApiError(403, "not_your_buyer", "A key sees its own buyer's recommendations "
                       "only.")
    buyer = request.app.state.buyers.get(buyer_id)
    if buyer is None:
        raise ApiError(404, "unknown_buyer", f"No buyer {buyer_id[:64]!r}.")
    return buyer


@dataclass(frozen=True, slots=True)
class Selection:
    """Which leads a buyer's read asks for: an area and the filters (both routes share it)."""

    area: Area
    filters: Filters


def selection(
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=500)] = None,
    cell: Annotated[str | None, Query(max_length=20, description="H3 cell, res 5-9, hex")] = None,
    price_min: Annotated[float | None, Query(ge=0)] = None,
    price_max: Annotated[float | None, Query(ge=0)] = None,
    property_type: Annotated[list[str] | None, Query(max_length=10)] = None,
    intent: Annotated[list[str] | None, Query(max_length=5)] = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_age_hours: Annotated[float | None, Query(gt=0)] = None,
) -> Selection:
    area = area_of(lat, lon, radius_km, cell)
    if price_min is not None and price_max is not None and price_min > price_max:
        raise ApiError(422, "bad_price_band", "price_min is above price_max.")
    return Selection(area, Filters(price_min=price_min, price_max=price_max,
                                   property_types=frozenset(property_type or ()),
                                   intents=frozenset(intent or ()), min_score=min_score,
                                   max_age_hours=max_age_hours))


SelectionDep = Annotated[Selection, Depends(selection)]
