"""CRM webhooks, HubSpot style (`schemas.raw.CrmEvent`) → canonical `Lead`.

Contract: `parse_crm(raw, received, headers)` (headers unused) returns a `Lead` or
raises a `LeadRejected` subclass: BadEncoding, BadJson, BadShape (not an event; no
objectId; a batch of more than one event), BadTimestamp (neither a `createdate`
property nor `occurredAt` that is a time), MissingContact, BadEmail, BadPhone; nothing
else.

A JSON array of exactly one event is that event: HubSpot posts arrays, and one lead a
message keeps Kafka offsets meaningful, so a larger batch is refused with its size.
Properties are read as ``{name: {"value": …}}`` or flat ``{name: value}``; their names
are matched like form fields (`streams.parse.webform.field_key`: "firstname",
"mobilephone", "lead_intent", "budget" …). The event time is the contact's `createdate`
(epoch ms), else the webhook's `occurredAt`: a property change on a years-old contact
is not a fresh lead. The source id is `objectId`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from schemas.lead import Lead
from schemas.raw import CrmEvent
from streams.errors import BadShape, BadTimestamp
from streams.identity import content_id
from streams.parse.answers import lead_from_answers, names_from_answers
from streams.parse.contact import resolve_contact
from streams.parse.decode import (
    NO_HEADERS,
    TEXT,
    Rule,
    as_text,
    coerce,
    decode_event,
    parse_timestamp,
)
from streams.parse.geocode import locate
from streams.parse.normalize import (
    clean_text,
    normalize_intent,
    normalize_ip,
    parse_bool,
)
from streams.parse.webform import field_key

SOURCE = "crm"

_decoder = msgspec.json.Decoder(CrmEvent | list[CrmEvent], strict=False)

# HubSpot's own property names first (a dict get); anything else goes through field_key.
# fmt: off
_PROPERTIES: dict[str, str | None] = {
    "email": "email", "firstname": "first_name", "lastname": "last_name", "phone": "phone",
    "mobilephone": "phone", "address": "street", "city": "city", "state": "state",
    "zip": "zip", "lead_intent": "intent", "budget": "price", "property_type": "property_type",
    "bedrooms": "beds", "message": "message", "ip_address": "ip",
    # Not answers: times and ids come from their own places, consent from the legal basis.
    "createdate": None, "hs_object_id": None, "lastmodifieddate": None, "hs_legal_basis": None,
}
_NOT_ANSWERS = frozenset({"event_time", "maybe_time", "source_lead_id", "form_id"})
# fmt: on


def parse_crm(raw: bytes, received: datetime, headers: Mapping[str, str] = NO_HEADERS) -> Lead:
    """One CRM webhook event → a `Lead` (received: UTC-aware time the event reached us)."""
    event = _one(decode_event(raw, _decoder, _repair))
    properties = event.properties
    event_time = _event_time(_value(properties.get("createdate")), event.occurredAt)
    answers = _answers(properties)
    email, phone = resolve_contact(answers.get("email"), answers.get("phone"))
    first_name, last_name = names_from_answers(answers)
    where = locate(None, None, answers.get("zip"), answers.get("city"), answers.get("state"))
    object_id = as_text(event.objectId)
    source_lead_id = object_id.strip() if isinstance(object_id, str) else ""
    source_lead_id = source_lead_id or content_id(raw)
    return lead_from_answers(
        SOURCE,
        source_lead_id,
        answers,
        event_time=event_time,
        received=received,
        names=(first_name, last_name),
        contact=(email, phone),
        intent=normalize_intent(answers.get("intent")),
        where=where,
        consent=_consent(answers.get("consent"), _value(properties.get("hs_legal_basis"))),
        listing_id=clean_text(answers.get("listing_id")) or None,
        campaign_id=clean_text(answers.get("campaign")) or None,
        ip=normalize_ip(answers.get("ip")),
    )


def _one(decoded: CrmEvent | list[CrmEvent]) -> CrmEvent:
    if isinstance(decoded, CrmEvent):
        return decoded
    if len(decoded) == 1:
        return decoded[0]
    if not decoded:
        raise BadShape("an empty batch: expected one event")
    raise BadShape(f"batch of {len(decoded)}: send one event per message")


def _value(prop: object) -> object:
    """A property's value: HubSpot wraps it as {"value": …}; flat values are taken as they are."""
    return prop.get("value") if isinstance(prop, dict) else prop


def _answers(properties: dict[str, Any]) -> dict[str, object]:
    answers: dict[str, object] = {}
    for name, prop in properties.items():
        key = _PROPERTIES.get(name, _UNLISTED)
        if key is _UNLISTED:
            key = field_key(name)
        if key is None or key in answers or key in _NOT_ANSWERS:
            continue
        value = prop.get("value") if type(prop) is dict else prop
        kind = type(value)
        if kind is str:
            if not value or value.isspace():
                continue
        elif kind is not int and kind is not float and kind is not bool:
            continue
        answers[key] = value
    return answers


_UNLISTED = "?"  # not one of HubSpot's own names: match it like a form field


def _event_time(createdate: object, occurred_at: object) -> datetime:
    for stamp in (createdate, occurred_at):
        if stamp is not None and stamp != "":
            return parse_timestamp(stamp)
    raise BadTimestamp("neither a createdate property nor occurredAt")


def _consent(answer: object, legal_basis: object) -> bool:
    if parse_bool(answer) is True:
        return True
    # HubSpot's GDPR field: "Freely given consent from contact" is consent; others are not.
    return isinstance(legal_basis, str) and "consent" in legal_basis.casefold()


# The lenient path (`streams.parse.decode.coerce`): ids as text; a junk time is no time.
_TOP: dict[str, Rule] = {
    "objectId": ((int, str), as_text),
    "occurredAt": ((int, float, str), lambda _: None),
    "subscriptionType": TEXT,
    "portalId": ((int, str), as_text),
    "eventId": ((int, str), as_text),
}


def _repair(decoded: Any) -> Any:
    """Coerce the scalars of generically decoded events; see `streams.parse.decode.decode_event`."""
    if isinstance(decoded, list):
        return [_repair_one(event) for event in decoded]
    return _repair_one(decoded)


def _repair_one(event: Any) -> Any:
    if isinstance(event, dict):
        coerce(event, _TOP)
    return event
