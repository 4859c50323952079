"""Partner CSV rows (one a message; `streams.parse.partner_mappings` declares feeds) → `Lead`.

Contract: `parse_partner(raw, received, headers, *, registry=None)` returns a `Lead` or
raises a `LeadRejected` subclass: UnknownPartner (no `x-partner-id` header, or a partner
the registry does not know), BadEncoding (not UTF-8), BadShape (not exactly one CSV row
of the partner's field count, or the header row itself), BadTimestamp (the partner's
time column empty or not in its format), MissingContact, BadEmail, BadPhone; nothing else.

`registry` defaults to `partner_mappings.bundled_partners()`. A byte-order mark and the line
ending after the row are tolerated; quoted fields may hold delimiters, quotes ("") and
line breaks. The source id is ``<partner_id>:<the partner's id>``, or
``<partner_id>:<hash of the bytes>`` for a row without one; `campaign_id` is the partner.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import datetime

from schemas.contract import PARTNER_HEADER
from schemas.lead import Lead
from streams.errors import BadShape, BadTimestamp, UnknownPartner
from streams.identity import content_id
from streams.parse.answers import lead_from_answers, location_from_answers, names_from_answers
from streams.parse.contact import resolve_contact
from streams.parse.decode import NO_HEADERS, decode_text, parse_float, parse_layout, parse_timestamp
from streams.parse.normalize import (
    normalize_intent,
    normalize_ip,
)
from streams.parse.partner_mappings import EPOCH, PartnerRegistry, PartnerSpec, bundled_partners

SOURCE = "partner"


def parse_partner(
    raw: bytes,
    received: datetime,
    headers: Mapping[str, str] = NO_HEADERS,
    *,
    registry: PartnerRegistry | None = None,
) -> Lead:
    """One partner CSV row → a `Lead` (received: UTC-aware time the row reached us)."""
    spec = _partner(headers, registry if registry is not None else bundled_partners())
    row = _row(raw, spec)
    answers = _answers(row, spec)
    event_time = _event_time(answers, spec, received)
    email, phone = resolve_contact(answers.get("email"), answers.get("phone"))
    first_name, last_name = names_from_answers(answers)
    where = location_from_answers(answers)
    own_id = answers.get("source_lead_id")
    source_lead_id = f"{spec.partner_id}:{own_id[:200] if own_id else content_id(raw)}"
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
        listing_id=answers.get("listing_id"),
        campaign_id=spec.partner_id,
        ip=normalize_ip(answers.get("ip")),
    )


def _partner(headers: Mapping[str, str], registry: PartnerRegistry) -> PartnerSpec:
    named: object = headers.get(PARTNER_HEADER)
    if named is None:  # HTTP ingest and some clients send header names capitalised
        named = next((v for k, v in headers.items() if k.lower() == PARTNER_HEADER), None)
    if isinstance(named, bytes | bytearray):
        named = bytes(named).decode("utf-8", errors="replace")
    if not isinstance(named, str) or not named.strip():
        raise UnknownPartner(f"no {PARTNER_HEADER} header: which partner sent this row?")
    spec = registry.get(named)
    if spec is None:
        raise UnknownPartner(
            f"partner {named.strip()[:64]!r} is not in the registry (known: {', '.join(registry)})"
        )
    return spec


def _row(raw: bytes, spec: PartnerSpec) -> list[str]:
    """The one CSV record of `raw`, split by the partner's dialect."""
    text = decode_text(raw)
    if text.endswith("\n"):  # the line ending after the record is not part of it
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    if not text.strip():
        raise BadShape("an empty message: expected one CSV row")
    if spec.quotechar in text or not _PLAIN_ROW.isdisjoint(text):
        row = _csv_row(text, spec)
    else:
        row = text.split(spec.delimiter)  # no quotes, no line breaks: what csv would make of it
    if len(row) != len(spec.columns):
        raise BadShape(
            f"{len(row)} fields; partner {spec.partner_id!r} sends {len(spec.columns)}"
            f" ({spec.delimiter!r}-separated)"
        )
    if row[0] == spec.columns[0] and tuple(row) == spec.columns:
        raise BadShape(f"the header row of partner {spec.partner_id!r}, not a lead")
    return row


_PLAIN_ROW = frozenset("\r\n\0")  # characters only the csv module may judge


def _csv_row(text: str, spec: PartnerSpec) -> list[str]:
    try:
        rows = list(
            csv.reader((text,), delimiter=spec.delimiter, quotechar=spec.quotechar, strict=True)
        )
    except csv.Error as exc:  # several rows, an unterminated quote, junk after a quote
        raise BadShape(f"not one well-formed CSV row: {exc}") from None
    if len(rows) != 1:  # one non-empty line is one record or a csv.Error; stay total
        raise BadShape(f"{len(rows)} CSV rows in one message: send one row a message")
    return rows[0]


def _answers(row: list[str], spec: PartnerSpec) -> dict[str, str]:
    """{canonical field: first non-empty mapped cell}, partner codes translated, defaults."""
    answers: dict[str, str] = {}
    for field, positions in spec.fields.items():
        for i in positions:
            cell = row[i].strip()
            if cell:
                answers[field] = cell
                break
    for field, codes in spec.values.items():
        given = answers.get(field)
        if given is not None:
            answers[field] = codes.get(given.casefold(), given)
    for field, default in spec.defaults.items():
        answers.setdefault(field, default)
    return answers


def _event_time(answers: dict[str, str], spec: PartnerSpec, received: datetime) -> datetime:
    if "event_time" not in spec.fields:
        return received  # a feed without times: the row is as new as its arrival
    stamp = answers.get("event_time")
    if stamp is None:
        # A feed that dates its rows and left this one blank may be replaying old leads.
        raise BadTimestamp(f"partner {spec.partner_id!r} sent a row without its time")
    if spec.date_format is None:
        return parse_timestamp(stamp, spec.zone)
    if spec.date_format == EPOCH:
        seconds = parse_float(stamp)
        if seconds is None:
            raise BadTimestamp(f"time {stamp[:64]!r} is not partner {spec.partner_id!r}'s epoch")
        return parse_timestamp(seconds)
    try:
        return parse_layout(stamp, spec.date_format, spec.zone)
    except BadTimestamp as exc:
        raise BadTimestamp(f"partner {spec.partner_id!r}: {exc.detail}") from None
