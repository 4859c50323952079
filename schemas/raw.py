"""The raw shapes each source sends, as the sources send them.

These are documentation and test fixtures as much as code: parsers decode into
them leniently (sources are messy), the traffic generator encodes them.

portal — a listing-portal inquiry::

    {"inquiry_id": "pi-8f2c1e", "submitted_at": "2026-05-01T12:00:00Z",
     "listing": {"listing_id": "L-2231", "price": 455000, "beds": 3, "baths": 2,
                 "property_type": "single_family", "lat": 30.2713, "lon": -97.7426,
                 "address": {"street": "12 Oak St", "city": "Austin", "state": "TX",
                             "zip": "78701"}},
     "contact": {"name": "Jane Doe", "email": "Jane@Example.com", "phone": "(512) 555-0134"},
     "intent": "buy", "message": "Is it still available?", "consent": true}

facebook — a Facebook Lead Ads lead object::

    {"id": "1234567890123456", "created_time": "2026-05-01T12:00:00+0000",
     "ad_id": "2385...", "form_id": "9981...", "campaign_id": "2385...",
     "field_data": [{"name": "full_name", "values": ["Jane Doe"]},
                    {"name": "email", "values": ["jane@example.com"]},
                    {"name": "phone_number", "values": ["+15125550134"]},
                    {"name": "zip_code", "values": ["78701"]},
                    {"name": "city", "values": ["Austin"]},
                    {"name": "state", "values": ["TX"]},
                    {"name": "are_you_looking_to_buy_or_sell?", "values": ["buy"]},
                    {"name": "what_is_your_budget?", "values": ["$450,000"]},
                    {"name": "property_type", "values": ["condo"]},
                    {"name": "bedrooms", "values": ["3"]}]}

webform — a website form post: flat string fields whose names vary by site ("Email",
"email_address", "E-mail"; "name" or "first_name" + "last_name" or "FullName"; "zip",
"postal_code", "Zip Code"; "message"/"comments"; "budget"; "looking_to" …), sent
URL-encoded (``Content-Type: application/x-www-form-urlencoded``)::

    first_name=Jos%C3%A9&last_name=N%C3%BA%C3%B1ez&E-mail=jose%40example.com
    &Phone+Number=%28512%29+555-0134&Zip+Code=78701&looking_to=Buy&budget=%24450k
    &comments=Call+after+5pm&consent=on&form_id=contact-us&ip=203.0.113.7

or as JSON, sometimes with the answers one level down under "fields"/"data"::

    {"submission_id": "wf-7781", "submitted": "5/1/2026 8:00 AM", "FullName": "Jane Doe",
     "Email": "Jane@Example.com", "phone": "512.555.0134", "postal_code": "78701",
     "looking_to": "sell", "message": "What is my house worth?", "ip": "203.0.113.7"}

Many forms carry no id: the source id is ``submission_id`` (or ``id``, ``entry_id`` …),
else ``<form_id>@<timestamp>~<contact hash>``, else `streams.identity.content_id` of the
bytes. No timestamp: the time it was received.

partner — one CSV row a message, the partner named by the Kafka header
``x-partner-id: homequest``; the partner's header, delimiter, column map and date
format are declared in `schemas/partners.json` (see `streams.parse.partner_mappings`)::

    HQ-100234,2026-05-01 12:00:00,Jane,Doe,jane@example.com,(512) 555-0134,"12 Oak St, Apt 4",\
    Austin,TX,78701,Buyer,"$400,000",Single Family,3,Yes,"Call after 5, please"

crm — a CRM webhook, HubSpot style: epoch-millisecond times as numbers or strings,
properties as ``{name: {"value": …}}`` (flat ``{name: value}`` is read too); a JSON
array of exactly one event is that event (larger batches are refused: one lead a
message keeps offsets meaningful)::

    {"objectId": 1234567, "subscriptionType": "contact.creation", "portalId": 62515,
     "occurredAt": 1777636800000,
     "properties": {"email": {"value": "jane@example.com"}, "firstname": {"value": "Jane"},
                    "lastname": {"value": "Doe"}, "phone": {"value": "+1 512 555 0134"},
                    "zip": {"value": "78701"}, "city": {"value": "Austin"},
                    "state": {"value": "TX"}, "lead_intent": {"value": "buy"},
                    "budget": {"value": "450000"}, "createdate": {"value": "1777636800000"}}}
"""

from __future__ import annotations

from typing import Any

import msgspec


class PortalAddress(msgspec.Struct, kw_only=True):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None


class PortalListing(msgspec.Struct, kw_only=True):
    listing_id: str | None = None
    price: float | None = None
    beds: int | None = None
    baths: float | None = None
    property_type: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: PortalAddress | None = None


class PortalContact(msgspec.Struct, kw_only=True):
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class PortalInquiry(msgspec.Struct, kw_only=True):
    inquiry_id: str
    submitted_at: str
    listing: PortalListing | None = None
    contact: PortalContact | None = None
    intent: str | None = None
    message: str | None = None
    consent: bool | None = None


class FacebookField(msgspec.Struct, kw_only=True):
    name: str
    values: list[Any] = []


class FacebookLead(msgspec.Struct, kw_only=True):
    id: str
    created_time: str
    field_data: list[FacebookField]
    ad_id: str | None = None
    form_id: str | None = None
    campaign_id: str | None = None


class CrmEvent(msgspec.Struct, kw_only=True):
    # The webhook's own (camelCase) names.
    objectId: int | str
    occurredAt: int | float | str | None = None
    subscriptionType: str | None = None
    portalId: int | str | None = None
    eventId: int | str | None = None
    properties: dict[str, Any] = {}  # {name: {"value": …}} or {name: value}


#: A website form post once decoded: field name as the site spelled it → value.
WebformPost = dict[str, Any]
