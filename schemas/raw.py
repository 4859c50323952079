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
