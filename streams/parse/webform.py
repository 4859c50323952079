"""Website form posts (URL-encoded or JSON; `schemas.raw` "webform") → canonical `Lead`.

Contract: `parse_webform(raw, received, headers)` returns a `Lead` or raises a
`LeadRejected` subclass: BadEncoding (not UTF-8, or not the declared charset of a form),
BadJson (a JSON body that is not JSON), BadShape (a JSON body that is not an object; a
body that is neither JSON nor a form), BadTimestamp (a timestamp field that is not a
time), MissingContact, BadEmail, BadPhone; nothing else.

Which syntax: the `content-type` header when it names JSON or a URL-encoded form, else
the body's first character (`{` or `[` → JSON). Field names are matched after folding
case and punctuation ("E-mail", "Email Address" → "e_mail", "email_address"): known
names through an alias table, custom questions by keyword; the first non-empty answer
for a field wins. JSON answers nested one level under "fields"/"data"/… count too.

Forms seldom carry ids: the source id is a submission id when the form sends one, else
``<form_id>@<timestamp>~<contact hash>`` when it sends both, else a hash of the bytes.
No timestamp field (or only a bare "date"/"time" that is not a time) means the time
the post was received. The client IP comes from the
form, else from the `x-forwarded-for` / `x-real-ip` headers of an HTTP ingest.
"""

from __future__ import annotations

import re
from binascii import a2b_qp
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import msgspec

from schemas.lead import Intent, Lead
from schemas.raw import WebformPost
from streams.errors import BadEncoding, BadShape, BadTimestamp
from streams.identity import content_id
from streams.parse.answers import lead_from_answers, location_from_answers, names_from_answers
from streams.parse.contact import resolve_contact
from streams.parse.decode import (
    NO_HEADERS,
    as_text,
    decode_event,
    decode_text,
    parse_timestamp,
)
from streams.parse.normalize import (
    normalize_intent,
    normalize_ip,
    parse_bool,
)

SOURCE = "webform"

_decoder = msgspec.json.Decoder(WebformPost)

# fmt: off
_ALIASES: dict[str, str] = {
    **dict.fromkeys(("submission_id", "submissionid", "id", "entry_id", "entryid", "lead_id",
                     "response_id", "responseid", "uuid"), "source_lead_id"),
    **dict.fromkeys(("form_id", "formid", "form", "form_name"), "form_id"),
    **dict.fromkeys(("timestamp", "submitted_at", "submitted", "submitted_on", "created_at",
                     "created", "date_submitted", "submission_date", "sent_at"), "event_time"),
    # Bare "date"/"time" might be a move-in date or a time to call: used only if they parse.
    **dict.fromkeys(("date", "time", "datetime"), "maybe_time"),
    **dict.fromkeys(("name", "full_name", "fullname", "your_name", "contact_name"), "full_name"),
    **dict.fromkeys(("first_name", "firstname", "fname", "first", "given_name"), "first_name"),
    **dict.fromkeys(("last_name", "lastname", "lname", "last", "surname", "family_name"),
                    "last_name"),
    **dict.fromkeys(("email", "e_mail", "email_address", "emailaddress", "your_email", "mail"),
                    "email"),
    **dict.fromkeys(("phone", "phone_number", "phonenumber", "telephone", "tel", "mobile",
                     "mobilephone", "mobile_phone", "cell", "cell_phone", "your_phone",
                     "contact_number", "phone_no"), "phone"),
    **dict.fromkeys(("zip", "zipcode", "zip_code", "postal_code", "postalcode", "postcode",
                     "post_code", "postal"), "zip"),
    **dict.fromkeys(("city", "town"), "city"),
    **dict.fromkeys(("state", "st", "province", "state_province"), "state"),
    **dict.fromkeys(("address", "street", "street_address", "address1", "address_1",
                     "address_line_1"), "street"),
    **dict.fromkeys(("lat", "latitude"), "lat"),
    **dict.fromkeys(("lon", "lng", "long", "longitude"), "lon"),
    **dict.fromkeys(("ip", "ip_address", "ipaddress", "remote_ip", "client_ip", "user_ip",
                     "remote_addr"), "ip"),
    **dict.fromkeys(("listing_id", "mls", "mls_id", "mls_number", "property_id"), "listing_id"),
    **dict.fromkeys(("campaign", "campaign_id", "utm_campaign"), "campaign"),
}
# Custom questions by keyword, first match wins ("how_many_bedrooms" is beds, not intent).
_KEYWORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("budget", "price", "afford", "spend"), "price"),
    (("bedroom", "beds"), "beds"),
    (("property_type", "home_type", "type_of_home", "type_of_property", "kind_of_home"),
     "property_type"),
    (("email", "e_mail"), "email"),
    (("phone", "mobile", "cell_number"), "phone"),
    (("zip", "postal"), "zip"),
    (("consent", "agree", "tcpa", "opt_in", "optin", "permission", "terms"), "consent"),
    (("message", "comment", "question", "note", "inquiry", "enquiry", "details"), "message"),
    (("looking_to", "buy", "sell", "rent", "intent", "interest", "plan"), "intent"),
)
# fmt: on
_WRAPPERS = frozenset({"fields", "data", "answers", "form_data", "formdata", "payload", "lead"})
_NOT_WORD = re.compile(r"\W+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Names as sites send them → key (None: not used), a plain dict get before `field_key`.
# Sites reuse a few dozen names; the cap keeps junk names from growing it for ever.
_field_keys: dict[str, str | None] = dict(_ALIASES)
_FIELD_KEYS_CAP = 20_000


@lru_cache(maxsize=4096)
def field_key(name: str) -> str | None:
    """The canonical key of a form field name, or None for fields we do not use.

    >>> field_key("E-mail"), field_key("Phone Number"), field_key("What's your budget?")
    ('email', 'phone', 'price')
    >>> field_key("firstName"), field_key("contact[email]"), field_key("utm_source")
    ('first_name', 'email', None)
    """
    if len(name) > 200:
        return None
    folded = _NOT_WORD.sub("_", name.casefold()).strip("_")
    key = _ALIASES.get(folded)
    if key is None:  # "firstName" → "first_name"
        key = _ALIASES.get(_NOT_WORD.sub("_", _CAMEL.sub("_", name).casefold()).strip("_"))
    if key is not None:
        return key
    for words, key in _KEYWORDS:
        if any(word in folded for word in words):
            return key
    return None


def parse_webform(raw: bytes, received: datetime, headers: Mapping[str, str] = NO_HEADERS) -> Lead:
    """One form post → a `Lead` (received: UTC-aware time the post reached us)."""
    answers, intents = _answers(_fields(raw, headers))
    stamp = answers.get("event_time")
    if stamp is not None:
        event_time = parse_timestamp(stamp)
    elif "maybe_time" in answers:
        event_time, stamp = _maybe_time(answers["maybe_time"], received)
    else:
        event_time = received
    email, phone = resolve_contact(answers.get("email"), answers.get("phone"))
    first_name, last_name = names_from_answers(answers)
    where = location_from_answers(answers)
    form_id = _text(answers.get("form_id"))
    source_lead_id = _text(answers.get("source_lead_id"))
    if not source_lead_id:
        if form_id and stamp is not None:
            contact = content_id((email or phone or "").encode())[:12]
            source_lead_id = f"{form_id}@{_text(stamp)}~{contact}"
        else:
            source_lead_id = content_id(raw)
    return lead_from_answers(
        SOURCE,
        source_lead_id,
        answers,
        event_time=event_time,
        received=received,
        names=(first_name, last_name),
        contact=(email, phone),
        intent=_intent(intents),
        where=where,
        listing_id=_text(answers.get("listing_id")) or None,
        campaign_id=_text(answers.get("campaign")) or form_id or None,
        ip=normalize_ip(answers.get("ip")) or _forwarded_ip(headers),
    )


def _maybe_time(value: object, received: datetime) -> tuple[datetime, object | None]:
    try:
        return parse_timestamp(value), value
    except BadTimestamp:
        return received, None


def _text(value: object) -> str:
    text = as_text(value)
    return text.strip()[:200] if isinstance(text, str) else ""


# --- bytes → fields -------------------------------------------------------------------------

_JSON_START = frozenset(b"{[")
_SPACE = b" \t\r\n"


def _fields(raw: bytes, headers: Mapping[str, str]) -> Iterable[tuple[str, object]]:
    """The post's (name, value) pairs in order, whichever syntax it came in."""
    kind, charset = _content_type(headers)
    if kind is None:
        body = raw[3:] if raw[:3] == b"\xef\xbb\xbf" else raw
        start = body.lstrip(_SPACE)[:1]
        kind = "json" if start and start[0] in _JSON_START else "form"
    if kind == "json":
        return _json_fields(decode_event(raw, _decoder, _no_repair))
    return _form_fields(raw, charset)


def _content_type(headers: Mapping[str, str]) -> tuple[str | None, str]:
    """("json" | "form" | None, charset) from a `content-type` header, if there is one."""
    value = headers.get("content-type")
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if not isinstance(value, str):
        return None, "utf-8"
    media, _, params = value.partition(";")
    media = media.strip().lower()
    charset = "utf-8"
    for param in params.split(";"):
        name, _, given = param.partition("=")
        if name.strip().lower() == "charset" and given.strip():
            charset = given.strip().strip('"').lower()
    if media == "application/json" or media.endswith("+json"):
        return "json", "utf-8"  # JSON is UTF-8 (RFC 8259), whatever the header says
    if media == "application/x-www-form-urlencoded":
        return "form", charset
    return None, charset


def _no_repair(value: Any) -> Any:
    return value


def _json_fields(post: WebformPost) -> Iterator[tuple[str, object]]:
    """Top-level answers, then those one level down under "fields", "data", … (first wins)."""
    nested = None
    for name, value in post.items():
        if type(value) is dict:
            if name.casefold() in _WRAPPERS:
                nested = value if nested is None else {**value, **nested}
        else:
            yield name, value
    if nested is not None:
        yield from nested.items()


def _form_fields(raw: bytes, charset: str) -> list[tuple[str, object]]:
    if charset in ("utf-8", "utf8"):
        text = decode_text(raw)
    else:
        try:
            text = bytes(raw).decode(charset)
        except LookupError:
            raise BadEncoding(f"unknown charset {charset[:40]!r}") from None
        except UnicodeDecodeError as exc:
            raise BadEncoding(str(exc)) from None
    pairs: list[tuple[str, object]] = []
    try:
        for piece in text.strip().lstrip("?").split("&"):
            name, equals, value = piece.partition("=")
            if equals and value:  # as parse_qsl: fields without "=" or a value are skipped
                pairs.append((_unquote(name, charset), _unquote(value, charset)))
    except UnicodeDecodeError as exc:  # percent-escapes of bytes that are not the charset
        raise BadEncoding(f"a form field is not {charset}: {exc}") from None
    if not pairs:
        raise BadShape("the body is neither a JSON object nor a URL-encoded form")
    return pairs


_NOT_AN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _unquote(text: str, charset: str) -> str:
    """`urllib.parse.unquote_plus`, strict about the charset, in C for the common case."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    if (
        "=" in text
        or "\n" in text
        or "\r" in text
        or not text.isascii()
        or _NOT_AN_ESCAPE.search(text) is not None
    ):
        return unquote(text, encoding=charset, errors="strict")
    # Only %XX escapes: they are quoted-printable's =XX (~5x faster than urllib's loop).
    return a2b_qp(text.replace("%", "=")).decode(charset)


# --- fields → answers -----------------------------------------------------------------------


def _answers(
    fields: Iterable[tuple[str, object]],
) -> tuple[dict[str, object], list[tuple[str, object]]]:
    """{canonical key: first non-empty answer}, and every (question, answer) about intent."""
    answers: dict[str, object] = {}
    intents: list[tuple[str, object]] = []
    for name, value in fields:
        key = _field_keys.get(name, "?")
        if key == "?":
            key = field_key(name)
            if len(_field_keys) < _FIELD_KEYS_CAP:
                _field_keys[name] = key
        if key is None or key in answers:
            continue
        kind = type(value)
        if kind is str:  # most answers: `_answered` inline
            if not value or value.isspace():
                continue
        elif kind is list:  # a checkbox group: its first ticked answer
            value = next((v for v in value if _answered(v)), None)
            if value is None:
                continue
        elif kind not in _NUMBERS:  # a ticked box counts; objects and null do not
            continue
        if key == "intent":
            intents.append((name, value))
        else:
            answers[key] = value
    return answers, intents


_NUMBERS = frozenset({int, float, bool})


def _answered(value: object) -> bool:
    if type(value) is str:
        return bool(value) and not value.isspace()
    return type(value) in _NUMBERS  # a ticked box counts


def _intent(candidates: list[tuple[str, object]]) -> Intent:
    for question, answer in candidates:
        intent = normalize_intent(answer)
        # "I want to sell" → "on" (a checkbox): the question carries the intent.
        if intent == "unknown" and parse_bool(answer):
            intent = normalize_intent(question)
        if intent != "unknown":
            return intent
    return "unknown"


def _forwarded_ip(headers: Mapping[str, str]) -> str | None:
    if not headers:
        return None
    forwarded = headers.get("x-forwarded-for") or headers.get("x-real-ip")
    if not isinstance(forwarded, str):
        return None
    return normalize_ip(forwarded.partition(",")[0])  # the client, before any proxies
