"""Facebook Lead Ads lead object (`schemas.raw.FacebookLead`) → canonical `Lead`.

Contract: `parse_facebook(raw, received, headers)` (headers unused) returns a `Lead`
or raises a `LeadRejected` subclass (BadEncoding, BadJson, BadShape, BadTimestamp,
MissingContact, BadEmail, BadPhone); nothing else.

Form fields are matched by normalised name ("What is your budget?" →
"what_is_your_budget"): standard Facebook names through an alias table, advertisers'
custom questions by keyword. The first non-empty answer for a field wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec

from schemas.lead import Intent, Lead
from schemas.raw import FacebookField, FacebookLead
from streams.identity import content_id
from streams.parse.answers import lead_from_answers
from streams.parse.contact import clean_name, resolve_contact, split_name
from streams.parse.decode import NO_HEADERS, as_text, decode_event, parse_timestamp
from streams.parse.geocode import locate
from streams.parse.normalize import (
    normalize_intent,
    parse_bool,
)

SOURCE = "facebook"

_decoder = msgspec.json.Decoder(FacebookLead, strict=False)

# fmt: off
_ALIASES: dict[str, str] = {
    **dict.fromkeys(("full_name", "name", "your_name", "fullname"), "full_name"),
    **dict.fromkeys(("first_name", "firstname", "given_name"), "first_name"),
    **dict.fromkeys(("last_name", "lastname", "surname", "family_name"), "last_name"),
    **dict.fromkeys(("email", "email_address", "e_mail", "your_email"), "email"),
    "work_email": "work_email",
    **dict.fromkeys(("phone_number", "phone", "mobile", "mobile_number", "mobile_phone", "cell",
                     "cell_phone", "telephone", "phone_no", "your_phone"), "phone"),
    "work_phone_number": "work_phone",
    **dict.fromkeys(("zip_code", "zip", "zipcode", "post_code", "postal_code", "postcode"), "zip"),
    **dict.fromkeys(("city", "town"), "city"),
    **dict.fromkeys(("state", "province", "state_province"), "state"),
    **dict.fromkeys(("street_address", "address", "street"), "street"),
}
# Custom questions, first match wins: "how_many_bedrooms_are_you_looking_for" is beds, not intent.
_KEYWORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("budget", "price", "afford", "spend", "presupuesto"), "price"),
    (("bedroom", "beds", "recamara", "habitacion"), "beds"),
    (("property_type", "type_of_property", "home_type", "type_of_home", "kind_of_home",
      "type_of_house"), "property_type"),
    (("zip", "postal"), "zip"),
    (("consent", "agree", "tcpa", "opt_in", "permission"), "consent"),
    (("buy", "sell", "rent", "looking_to", "intent", "plan", "comprar", "vender"), "intent"),
    (("message", "comment", "question", "anything_else", "note"), "message"),
)
# fmt: on
_NOT_WORD = re.compile(r"\W+")
# Facebook's standard field names as sent: a plain dict get before the memoised matcher.
_field_keys: dict[str, str] = dict(_ALIASES)


@lru_cache(maxsize=2048)
def field_key(name: str) -> str | None:
    """The canonical key of a form field name, or None for fields we do not use.

    >>> field_key("What is your budget?"), field_key("post_code")
    ('price', 'zip')
    """
    normal = _NOT_WORD.sub("_", name.casefold()).strip("_")
    key = _ALIASES.get(normal)
    if key is not None:
        return key
    for words, key in _KEYWORDS:
        if any(word in normal for word in words):
            return key
    return None


def parse_facebook(raw: bytes, received: datetime, headers: Mapping[str, str] = NO_HEADERS) -> Lead:
    """One Lead Ads lead object → a `Lead` (received: UTC-aware time the event reached us)."""
    event = decode_event(raw, _decoder, _repair)
    event_time = parse_timestamp(event.created_time)
    answers, intent_answers = _answers(event.field_data)
    email, phone = resolve_contact(
        answers.get("email", answers.get("work_email")),
        answers.get("phone", answers.get("work_phone")),
    )
    if "full_name" in answers:
        first_name, last_name = split_name(answers["full_name"])
    else:
        first_name, last_name = (
            clean_name(answers.get("first_name")),
            clean_name(answers.get("last_name")),
        )
    where = locate(None, None, answers.get("zip"), answers.get("city"), answers.get("state"))
    source_lead_id = event.id.strip() or content_id(raw)
    return lead_from_answers(
        SOURCE,
        source_lead_id,
        answers,
        event_time=event_time,
        received=received,
        names=(first_name, last_name),
        contact=(email, phone),
        intent=_intent(intent_answers),
        where=where,
        campaign_id=event.campaign_id or event.ad_id or event.form_id,
    )


def _answers(fields: list[FacebookField]) -> tuple[dict[str, object], list[tuple[str, object]]]:
    """{canonical key: first non-empty answer}, and every (question, answer) about intent.

    Intent keeps all candidates: "when_do_you_plan_to_buy?" → "3 months" matches the intent
    keywords too, and must not hide the buy-or-sell question after it.
    """
    answers: dict[str, object] = {}
    intents: list[tuple[str, object]] = []
    for field in fields:  # ~10 fields a lead: kept inline and cheap
        key = _field_keys.get(field.name) or field_key(field.name)
        if key is None or key in answers:
            continue
        for value in field.values:
            if isinstance(value, str):
                if not value or value.isspace():
                    continue
            elif not isinstance(value, int | float):  # bool included: a ticked checkbox
                continue
            if key == "intent":
                intents.append((field.name, value))
            else:
                answers[key] = value
            break
    return answers, intents


def _intent(candidates: list[tuple[str, object]]) -> Intent:
    for question, answer in candidates:
        intent = normalize_intent(answer)
        # "Are you looking to sell?" → "Yes": the question carries the intent.
        if intent == "unknown" and parse_bool(answer):
            intent = normalize_intent(question)
        if intent != "unknown":
            return intent
    return "unknown"


_TOP = ("id", "created_time", "ad_id", "form_id", "campaign_id")


def _repair(event: Any) -> Any:
    """Coerce the scalars of a generically decoded lead; see `streams.parse.decode.decode_event`."""
    if not isinstance(event, dict):
        return event
    event = dict(event)
    for key in _TOP:
        if event.get(key) is not None:
            event[key] = as_text(event[key])
    fields = event.get("field_data")
    if isinstance(fields, list):
        event["field_data"] = [
            {**field, "name": as_text(field.get("name"))}
            if isinstance(field, dict) and "name" in field
            else field
            for field in fields
        ]
    return event
