"""Labelled fraud for synthetic traffic: what each pattern does to a clean `LeadDraw`.

Contract: every pattern leaves a lead that parses and validates (``expected ==
"valid"``); the fraud is in what the lead *is*, not in its syntax. The label
(`GeneratedEvent.fraud`) is the pattern's name, which is also the reason code
`streams.fraud.screen` should give it:

* ``disposable_email`` — the person's address on a throwaway-inbox domain;
* ``unassignable_phone`` — a number that passes `phonenumbers` yet is nobody's:
  555-01xx (fiction), other 555 lines, N11 exchanges, toll-free 8xx;
* ``phone_region_mismatch`` — a valid number on an area code that serves only
  places at least `FAR_AREA_CODE_KM` from the property;
* ``gibberish_name`` — keyboard mash for a name (and the email made from it);
* ``velocity_email`` / ``velocity_phone`` / ``velocity_ip`` — one identity (an
  address with the same phone or none; a phone with fresh addresses; an IP with
  fresh identities) about properties in different places, several times within
  minutes: *every* event of the burst is fraud;
* ``bot_timing`` — several fresh identities from one IP in the same second.

IP patterns need a source whose every event can carry the client IP (web forms,
CRM webhooks: see `stamp_ip`); without one among the sources they are not drawn.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from msgspec.structs import replace

from streams.fraud.rules import area_code, area_code_distance_km, known_area_codes, phone_reason
from streams.traffic.draw import LeadDraw
from streams.traffic.people import Person, draw_phone, format_phone
from streams.traffic.sampling import Weighted, below, between, pick

#: Real disposable-inbox providers (all in the `disposable-email-domains` list).
DISPOSABLE_SAMPLE: tuple[str, ...] = (
    "mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com",
    "sharklasers.com", "temp-mail.org", "dispostable.com", "getnada.com", "maildrop.cc",
    "throwawaymail.com", "trashmail.com", "fakeinbox.com", "mohmal.com", "emailondeck.com",
    "mailnesia.com", "grr.la", "guerrillamail.net", "spam4.me", "mintemail.com",
    "mytemp.email",
)  # fmt: skip

FAR_AREA_CODE_KM = 1200.0
SINGLE_PATTERNS = ("disposable_email", "unassignable_phone", "phone_region_mismatch",
                   "gibberish_name")  # fmt: skip
#: One pattern, "velocity", in three kinds that share its part of the fraud.
VELOCITY_PATTERNS = ("velocity_email", "velocity_phone", "velocity_ip")
IP_PATTERNS = frozenset({"velocity_ip", "bot_timing"})
PATTERNS = (*SINGLE_PATTERNS, *VELOCITY_PATTERNS, "bot_timing")
#: Events a burst pattern sends: (fewest, most).
BURST_SIZES: dict[str, tuple[int, int]] = {
    "velocity_email": (3, 8),
    "velocity_phone": (3, 8),
    "velocity_ip": (4, 10),
    "bot_timing": (4, 12),
}
BURST_GAP_EVENTS = 20  # mean other events between two velocity-burst events

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_pick_row = Weighted([(0, 0.3), (1, 0.5), (2, 0.2)])
_CONSONANTS = "bcdfghjklmnpqrstvwxz"
_HOME_CONSONANTS = "sdfghjkl"
_COMMON_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com")
_IP_FIELDS = frozenset({"ip", "ip_address", "ipaddress", "remote_ip", "client_ip", "user_ip",
                        "remote_addr"})  # fmt: skip
_IP_HEADERS = ("x-forwarded-for", "x-real-ip")


def mean_events(pattern: str) -> float:
    """How many events one occurrence of a pattern sends, on average."""
    low, high = BURST_SIZES.get(pattern, (1, 1))
    return (low + high) / 2


def far_code_candidates() -> tuple[str, ...]:
    """Geographic US area codes a far-away phone may come from."""
    return tuple(code for code in known_area_codes() if phone_reason(f"+1{code}2345678") is None)


# --- single-event patterns ----------------------------------------------------------------


def _local_part(rng: random.Random, person: Person) -> str:
    local = person.email.partition("@")[0]
    return local if rng.random() < 0.6 else f"{local}{between(rng, 1, 9999)}"


def with_disposable_email(rng: random.Random, draw: LeadDraw) -> LeadDraw:
    email = f"{_local_part(rng, draw.person)}@{pick(rng, DISPOSABLE_SAMPLE)}"
    person = replace(draw.person, email=email)
    return replace(draw, person=person, email=email, email_ok=True)


def unassignable_number(rng: random.Random, area: str) -> str:
    """A number `phonenumbers` accepts that no person holds, in E.164."""
    roll = rng.random()
    if roll < 0.45:
        return f"+1{area}5550{between(rng, 100, 199)}"  # fiction's own range
    if roll < 0.6:
        return f"+1{area}555{between(rng, 200, 9999):04d}"
    if roll < 0.8:
        return f"+1{area}{between(rng, 2, 9)}11{below(rng, 10_000):04d}"
    toll_free = pick(rng, ("800", "833", "844", "855", "866", "877", "888"))
    return f"+1{toll_free}{between(rng, 200, 999)}{below(rng, 10_000):04d}"


def with_unassignable_phone(rng: random.Random, draw: LeadDraw) -> LeadDraw:
    e164 = unassignable_number(rng, draw.person.phone_e164[2:5])
    person = replace(draw.person, phone_e164=e164)
    return replace(draw, person=person, phone=format_phone(rng, e164), phone_ok=True)


def far_area_code(rng: random.Random, draw: LeadDraw, codes: tuple[str, ...]) -> str | None:
    """An area code whose every ZIP is at least FAR_AREA_CODE_KM from the home."""
    home = draw.home
    for _ in range(40):
        code = pick(rng, codes)
        entry = area_code(code)
        if entry is None or home.zip.state in entry.states:
            continue
        distance = area_code_distance_km(code, home.lat, home.lon)
        if distance is not None and distance >= FAR_AREA_CODE_KM:
            return code
    return None


def with_far_phone(rng: random.Random, draw: LeadDraw, codes: tuple[str, ...]) -> LeadDraw | None:
    code = far_area_code(rng, draw, codes)
    if code is None:
        return None
    e164 = draw_phone(rng, (code,))
    if e164[2:5] != code:
        return None  # not a code `draw_phone` can use (a Canadian code in US ZIP data)
    person = replace(draw.person, phone_e164=e164)
    return replace(draw, person=person, phone=format_phone(rng, e164), phone_ok=True)


def mash(rng: random.Random) -> str:
    """One keyboard-mashed word, the way people fill forms they do not mean."""
    style = rng.random()
    if style < 0.45:  # a run along a row: asdf, qwert, lkjh
        row = _ROWS[_pick_row(rng)]
        size = between(rng, 5 if row == _ROWS[0] else 4, min(len(row), 7))
        start = below(rng, len(row) - size + 1)
        word = row[start : start + size]
        return word[::-1] if rng.random() < 0.3 else word
    if style < 0.65:  # a unit again and again: asdasd, jkjkjk
        row = _ROWS[1 + below(rng, 2)]
        size = 2 + below(rng, 2)
        start = below(rng, len(row) - size + 1)
        unit = row[start : start + size]
        return unit * (3 if size == 2 else 2)
    if style < 0.85:  # a home-row jumble: sdjfkl, ahsjdk
        word = "".join(pick(rng, _HOME_CONSONANTS) for _ in range(between(rng, 4, 7)))
        return f"a{word}" if rng.random() < 0.4 else word
    return "".join(pick(rng, _CONSONANTS) for _ in range(between(rng, 4, 6)))  # xkcdq


def _cased(rng: random.Random, word: str) -> str:
    roll = rng.random()
    return word.capitalize() if roll < 0.5 else (word.upper() if roll < 0.6 else word)


def with_gibberish_name(rng: random.Random, draw: LeadDraw) -> LeadDraw:
    first, last = mash(rng), mash(rng)
    email = f"{first}{between(rng, 1, 999) if rng.random() < 0.5 else ''}@" + pick(
        rng, _COMMON_DOMAINS
    )
    person = replace(
        draw.person, first_name=_cased(rng, first), last_name=_cased(rng, last), email=email
    )
    given = draw.email is not None or rng.random() < 0.5
    return replace(
        draw,
        person=person,
        email=email if given else None,
        email_ok=True,
        phone=draw.phone if given else format_phone(rng, person.phone_e164),
        phone_ok=draw.phone_ok if given else True,
    )


# --- identities reused by bursts ----------------------------------------------------------


def with_identity(draw: LeadDraw, person: Person, email: str | None, phone: str | None) -> LeadDraw:
    """The draw's home and timing, someone else's contact as typed."""
    return replace(draw, person=person, email=email, phone=phone, email_ok=True, phone_ok=True)


def draw_ip(rng: random.Random) -> str:
    """A public-looking IPv4 address (no private, loopback, multicast or reserved block)."""
    while True:
        first = between(rng, 11, 223)
        if first in (100, 127, 169, 172, 192, 198, 203):
            continue
        return f"{first}.{below(rng, 256)}.{below(rng, 256)}.{between(rng, 1, 254)}"


# --- the client IP of a rendered event ----------------------------------------------------


def stamp_ip(
    source: str, doc: dict[str, Any], headers: Mapping[str, str], ip: str
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """(doc, headers) with the client IP set to `ip`; None when the format carries no IP.

    Replaces the IP where the event already states one (a form field such as ``ip`` or
    ``ip_address``, one level down under ``fields``/``data``, a CRM property, a CSV
    column, the ``x-forwarded-for`` / ``x-real-ip`` header); else adds it where the
    source's parser reads it: a web form's ``x-forwarded-for``, a CRM's ``ip_address``.
    """
    stamped = _stamp_fields(doc, ip)
    if stamped is not None:
        return stamped, dict(headers)
    for name in _IP_HEADERS:
        if name in headers:
            return doc, {**headers, name: ip}
    if source == "webform":
        return doc, {**headers, "x-forwarded-for": ip}
    properties = doc.get("properties")
    if source == "crm" and isinstance(properties, dict):
        shaped = any(isinstance(v, dict) and "value" in v for v in properties.values())
        value: Any = {"value": ip} if shaped else ip
        return {**doc, "properties": {**properties, "ip_address": value}}, dict(headers)
    return None


def _folded(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _stamp_fields(doc: dict[str, Any], ip: str) -> dict[str, Any] | None:
    for key, value in doc.items():
        if _folded(key) in _IP_FIELDS:
            if isinstance(value, dict) and "value" in value:
                return {**doc, key: {**value, "value": ip}}
            return {**doc, key: ip}
    for key in ("fields", "data", "properties"):
        inner = doc.get(key)
        if isinstance(inner, dict):
            stamped = _stamp_fields(inner, ip)
            if stamped is not None:
                return {**doc, key: stamped}
    return None
