"""Facebook Lead Ads leads: the documented example, field-name variants, every reason code."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import (
    BadEmail,
    BadEncoding,
    BadJson,
    BadPhone,
    BadShape,
    BadTimestamp,
    LeadRejected,
    MissingContact,
)
from streams.identity import content_id
from streams.parse.facebook import field_key, parse_facebook
from streams.parse.geocode import city_point
from tests.unit.streams.parse.fixtures import (
    DELETE,
    FUZZ,
    RECEIVED,
    assert_rejects,
    counts,
    edited,
    emails,
    encode,
    ids,
    jane_in_austin,
    json_scalars,
    mostly,
    only_rejections,
    phones,
    prices,
    text_or_junk,
    timestamps,
    zips,
)

# The example in schemas/raw.py, with its elided ids filled in.
FIELDS: dict[str, object] = {
    "full_name": "Jane Doe",
    "email": "jane@example.com",
    "phone_number": "+15125550134",
    "zip_code": "78701",
    "city": "Austin",
    "state": "TX",
    "are_you_looking_to_buy_or_sell?": "buy",
    "what_is_your_budget?": "$450,000",
    "property_type": "condo",
    "bedrooms": "3",
}

EXPECTED = jane_in_austin(
    "facebook",
    "1234567890123456",
    intent="buy",
    property_type="condo",
    price=450000.0,
    beds=3,
    campaign_id="23851234",
)


def lead_object(fields: dict[str, object] | None = None, **top: object) -> dict[str, Any]:
    """A lead object; `fields` values that are lists are sent as the whole `values` list."""
    event: dict[str, Any] = {
        "id": "1234567890123456",
        "created_time": "2026-05-01T12:00:00+0000",
        "ad_id": "23859876",
        "form_id": "998112",
        "campaign_id": "23851234",
        "field_data": [
            {"name": name, "values": value if isinstance(value, list) else [value]}
            for name, value in (FIELDS if fields is None else fields).items()
        ],
    }
    return edited(event, top)


def with_fields(**edits: object) -> dict[str, object]:
    """FIELDS with edits (keys with "?" can't be kwargs: use the replace helpers below)."""
    return edited(FIELDS, edits)


def renamed(old: str, new: str, value: object = None) -> dict[str, object]:
    return {
        (new if k == old else k): (v if value is None or k != old else value)
        for k, v in FIELDS.items()
    }


def test_documented_example() -> None:
    assert parse_facebook(encode(lead_object()), RECEIVED) == EXPECTED


@pytest.mark.parametrize(
    ("fields", "changes"),
    [
        # name variants
        (with_fields(full_name=DELETE, first_name="Jane", last_name="Doe"), {}),
        (
            with_fields(full_name=DELETE, first_name="JOSÉ", last_name="ÑÚÑEZ"),
            {"first_name": "José", "last_name": "Ñúñez"},
        ),
        (with_fields(full_name="José Ñúñez"), {"first_name": "José", "last_name": "Ñúñez"}),
        (with_fields(full_name="李小龍"), {"first_name": "李小龍", "last_name": ""}),
        (with_fields(full_name=DELETE), {"first_name": "", "last_name": ""}),
        # contact variants
        (renamed("phone_number", "phone"), {}),
        (renamed("phone_number", "phone", "(512) 555-0134"), {}),
        (with_fields(phone_number="5125550134"), {}),
        (with_fields(phone_number=5125550134), {}),
        (with_fields(email=" Jane@Example.COM "), {}),
        (with_fields(email="jane at example dot com"), {"email": None}),
        (with_fields(phone_number="12345"), {"phone": None}),
        (with_fields(email=DELETE, work_email="jane@example.com"), {}),
        # location variants
        (renamed("zip_code", "post_code"), {}),
        (renamed("zip_code", "Postal Code"), {}),
        (with_fields(zip_code="78701-3208"), {}),
        (with_fields(zip_code=78701), {}),
        (with_fields(state="Texas"), {}),
        (
            with_fields(zip_code=DELETE),
            {
                "zip": None,
                "lat": city_point("Austin", "TX")[0],  # type: ignore[index]
                "lon": city_point("Austin", "TX")[1],
                "location_precision": "city",
            },
        ),  # type: ignore[index]
        (
            with_fields(zip_code=DELETE, city=DELETE),
            {"zip": None, "city": None, "lat": None, "lon": None, "location_precision": "none"},
        ),
        (with_fields(street_address="12 Oak St"), {"street": "12 Oak St"}),
        # custom questions
        (
            renamed(
                "are_you_looking_to_buy_or_sell?",
                "are_you_looking_to_buy_or_sell?",
                "Looking to SELL my home",
            ),
            {"intent": "sell"},
        ),
        (
            renamed("are_you_looking_to_buy_or_sell?", "are_you_looking_to_sell?", "Yes"),
            {"intent": "sell"},
        ),
        (
            renamed("are_you_looking_to_buy_or_sell?", "What are your plans?", "Renting"),
            {"intent": "rent"},
        ),
        (with_fields(**{"are_you_looking_to_buy_or_sell?": DELETE}), {"intent": "unknown"}),
        (  # a timeline question that looks like intent does not hide the real one
            {"when_do_you_plan_to_move?": "3-6 months", **FIELDS},
            {},
        ),
        (renamed("what_is_your_budget?", "price_range", "$400k-$500k"), {}),
        (renamed("what_is_your_budget?", "what_is_your_budget?", "under_$450k"), {}),
        (renamed("what_is_your_budget?", "what_is_your_budget?", "not_sure"), {"price": None}),
        (renamed("what_is_your_budget?", "what_is_your_budget?", 450000), {}),
        (renamed("bedrooms", "how_many_bedrooms_are_you_looking_for?", "3+"), {}),
        (with_fields(bedrooms="studio"), {"beds": 0}),
        (with_fields(property_type="Townhome"), {"property_type": "townhouse"}),
        (
            renamed("property_type", "what_type_of_home?", "Single family"),
            {"property_type": "single_family"},
        ),
        (with_fields(i_agree_to_be_contacted=True), {"consent": True}),
        (with_fields(consent="Yes"), {"consent": True}),
        (with_fields(any_comments="Backyard please"), {"message": "Backyard please"}),
        # values lists: empty, blank, several, non-scalar
        (with_fields(bedrooms=[]), {"beds": None}),
        (with_fields(bedrooms=["", "3"]), {}),
        (with_fields(bedrooms=[{"weird": 1}, "3"]), {}),
        (with_fields(property_type=["condo", "townhouse"]), {}),
        # unknown fields ignored, duplicates: first wins
        (with_fields(favourite_colour="green", date_of_birth="1990-01-01"), {}),
        ({**FIELDS, "EMAIL": "other@example.com"}, {}),
    ],
)
def test_field_variants(fields: dict[str, object], changes: dict[str, object]) -> None:
    lead = parse_facebook(encode(lead_object(fields)), RECEIVED)
    assert lead == msgspec.structs.replace(EXPECTED, **changes)


@pytest.mark.parametrize(
    ("top", "changes"),
    [
        ({"created_time": "2026-05-01T12:00:00Z"}, {}),
        ({"created_time": "2026-05-01T07:00:00-0500"}, {}),
        ({"created_time": 1777636800}, {}),
        ({"id": 1234567890123456}, {}),  # ids as numbers keep every digit
        ({"campaign_id": DELETE}, {"campaign_id": "23859876"}),
        ({"campaign_id": None, "ad_id": None}, {"campaign_id": "998112"}),
        ({"campaign_id": DELETE, "ad_id": DELETE, "form_id": DELETE}, {"campaign_id": None}),
        ({"is_organic": False, "platform": "ig", "partner_name": None}, {}),
    ],
)
def test_top_level_variants(top: dict[str, object], changes: dict[str, object]) -> None:
    lead = parse_facebook(encode(lead_object(**top)), RECEIVED)
    assert lead == msgspec.structs.replace(EXPECTED, **changes)


def test_huge_numeric_id_is_kept_exactly() -> None:
    raw = encode(lead_object(id=123456789012345678901234567890))
    assert parse_facebook(raw, RECEIVED).source_lead_id == "123456789012345678901234567890"


def test_blank_id_falls_back_to_the_content_hash() -> None:
    raw = encode(lead_object(id=""))
    assert parse_facebook(raw, RECEIVED).source_lead_id == content_id(raw)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("full_name", "full_name"),
        ("FULL NAME", "full_name"),
        ("phone_number", "phone"),
        ("post_code", "zip"),
        ("zip_code", "zip"),
        ("What is your budget?", "price"),
        ("are_you_looking_to_buy_or_sell?", "intent"),
        ("how_many_bedrooms_are_you_looking_for?", "beds"),
        ("what_type_of_property_are_you_looking_for?", "property_type"),
        ("¿Está buscando comprar o vender?", "intent"),
        ("date_of_birth", None),
        ("job_title", None),
        ("", None),
    ],
)
def test_field_key(name: str, key: str | None) -> None:
    assert field_key(name) == key


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", BadJson),
        (b'{"id": "1", "field_data": [', BadJson),
        (b'{"id": "\xff", "created_time": "x", "field_data": []}', BadEncoding),
        (b"[]", BadShape),
        (encode(lead_object(id=DELETE)), BadShape),
        (encode(lead_object(created_time=DELETE)), BadShape),
        (encode(lead_object(field_data=DELETE)), BadShape),
        (encode(lead_object(field_data={"email": "jane@example.com"})), BadShape),
        (encode(lead_object(field_data=["jane@example.com"])), BadShape),
        (encode(lead_object(field_data=[{"values": ["jane@example.com"]}])), BadShape),
        (
            encode(lead_object(field_data=[{"name": "email", "values": "jane@example.com"}])),
            BadShape,
        ),
        (encode(lead_object(id={"value": 1})), BadShape),
        (encode(lead_object(created_time="2026-05-01T12:00:00+99:00")), BadTimestamp),
        (encode(lead_object(created_time="")), BadTimestamp),
        (encode(lead_object(field_data=[])), MissingContact),
        (encode(lead_object(with_fields(email=DELETE, phone_number=DELETE))), MissingContact),
        (encode(lead_object(with_fields(email=[""], phone_number=[]))), MissingContact),
        (encode(lead_object(with_fields(email="jane@", phone_number=DELETE))), BadEmail),
        (encode(lead_object(with_fields(email=DELETE, phone_number="555"))), BadPhone),
    ],
)
def test_rejections(raw: bytes, error: type[LeadRejected]) -> None:
    assert_rejects(error, parse_facebook, raw)


# --- property-based: shaped junk (arbitrary bytes and JSON: test_registry.py) -----------------

facebook_answers = {
    "full_name": text_or_junk,
    "first_name": text_or_junk,
    "last_name": text_or_junk,
    "email": emails,
    "phone_number": phones,
    "phone": phones,
    "zip_code": zips,
    "post_code": zips,
    "city": text_or_junk,
    "state": text_or_junk,
    "street_address": text_or_junk,
    "are_you_looking_to_buy_or_sell?": text_or_junk,
    "what_is_your_budget?": prices,
    "property_type": text_or_junk,
    "bedrooms": counts,
    "consent": json_scalars,
    "comments": text_or_junk,
    "": text_or_junk,
}
facebook_fields = mostly(
    st.one_of(
        *(
            st.fixed_dictionaries({"name": st.just(name), "values": st.lists(answer, max_size=3)})
            for name, answer in facebook_answers.items()
        ),
    )
)
facebook_like = st.fixed_dictionaries(
    {
        "id": ids,
        "created_time": timestamps,
        "field_data": st.lists(facebook_fields, max_size=12),
    },
    optional={"ad_id": ids, "form_id": ids, "campaign_id": st.none() | ids},
)


@FUZZ
@given(facebook_like)
def test_facebook_shaped_junk(event: dict[str, object]) -> None:
    only_rejections("facebook", encode(event))
