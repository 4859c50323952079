"""The canonical lead from a flat `answers` mapping, shared by the form-like parsers.

Facebook field_data, web forms, partner CSV rows and CRM properties all end as
`{canonical field name: raw value}`; each parser decides ids, times, names and
contact its own way and hands the rest to `lead_from_answers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from schemas.lead import Intent, Lead
from streams.identity import lead_id
from streams.parse.contact import clean_name, split_name
from streams.parse.decode import parse_float
from streams.parse.geocode import Location, locate
from streams.parse.normalize import (
    clean_text,
    normalize_property_type,
    parse_bool,
    parse_count,
    parse_money,
)


def names_from_answers(answers: Mapping[str, Any]) -> tuple[str, str]:
    """First and last name: the separate fields when the source has them, else the full name."""
    if "first_name" in answers or "last_name" in answers:
        return clean_name(answers.get("first_name")), clean_name(answers.get("last_name"))
    return split_name(answers.get("full_name"))


def location_from_answers(answers: Mapping[str, Any]) -> Location:
    """Coordinates when given, else ZIP, else city and state (`streams.parse.geocode.locate`)."""
    return locate(
        parse_float(answers.get("lat")),
        parse_float(answers.get("lon")),
        answers.get("zip"),
        answers.get("city"),
        answers.get("state"),
    )


def lead_from_answers(
    source: str,
    source_lead_id: str,
    answers: Mapping[str, Any],
    *,
    event_time: datetime,
    received: datetime,
    names: tuple[str, str],
    contact: tuple[str | None, str | None],
    intent: Intent,
    where: Location,
    consent: bool | None = None,
    listing_id: str | None = None,
    campaign_id: str | None = None,
    ip: str | None = None,
) -> Lead:
    """A `Lead` whose property, location and message fields come from `answers`."""
    first_name, last_name = names
    email, phone = contact
    return Lead(
        lead_id=lead_id(source, source_lead_id),
        source=source,
        source_lead_id=source_lead_id,
        event_time=event_time,
        received_time=received,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        intent=intent,
        property_type=normalize_property_type(answers.get("property_type")),
        price=parse_money(answers.get("price")),
        beds=parse_count(answers.get("beds")),
        street=clean_text(answers.get("street")) or None,
        city=where.city,
        state=where.state,
        zip=where.zip,
        lat=where.lat,
        lon=where.lon,
        location_precision=where.precision,
        consent=parse_bool(answers.get("consent")) is True if consent is None else consent,
        message=clean_text(answers.get("message")),
        listing_id=listing_id,
        campaign_id=campaign_id,
        ip=ip,
    )
