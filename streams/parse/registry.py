"""Raw bytes from `leads.raw.<source>` → canonical `Lead`: the per-source parser registry.

Contract: `parse(source, raw, received, headers=...)` returns a `Lead` or raises a
`LeadRejected` subclass — UnknownSource, Oversize (checked here, and only here), or
whatever the source's parser raises. Any other exception escaping is a bug (the agent
files it under `internal_error`). `headers` are the message's headers (Kafka or HTTP,
names lower-case); only some sources read them (`partner`: `x-partner-id`; `webform`:
`content-type`, `x-forwarded-for`).

A new source is one module `streams/parse_<source>.py` exposing
`parse_<source>(raw: bytes, received: datetime, headers: Mapping[str, str]) -> Lead`,
registered in `PARSERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from schemas.lead import Lead
from streams.errors import Oversize, UnknownSource
from streams.parse import geocode
from streams.parse.contact import normalize_phone
from streams.parse.crm import parse_crm
from streams.parse.decode import NO_HEADERS
from streams.parse.facebook import parse_facebook
from streams.parse.partner import parse_partner
from streams.parse.partner_mappings import PartnerRegistry, bundled_partners
from streams.parse.portal import parse_portal
from streams.parse.webform import parse_webform

Parser = Callable[[bytes, datetime, Mapping[str, str]], Lead]

PARSERS: dict[str, Parser] = {
    "portal": parse_portal,
    "facebook": parse_facebook,
    "webform": parse_webform,
    "partner": parse_partner,
    "crm": parse_crm,
}

DEFAULT_MAX_BYTES = 64 * 1024  # `Settings.max_event_bytes` at the agent


def parse(
    source: str,
    raw: bytes,
    received: datetime,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    headers: Mapping[str, str] | None = None,
    partners: PartnerRegistry | None = None,
) -> Lead:
    """Parse one raw event of `source` received at `received` (UTC-aware).

    `partners`: the partner CSV registry (None: the bundled one).
    """
    parser = PARSERS.get(source)
    if parser is None:
        raise UnknownSource(f"no parser for source {source[:64]!r}")
    if len(raw) > max_bytes:
        raise Oversize(f"{len(raw)} bytes > limit {max_bytes}")
    headers = NO_HEADERS if headers is None else headers
    if parser is parse_partner:  # the one parser with configuration
        return parse_partner(raw, received, headers, registry=partners)
    return parser(raw, received, headers)


def warm() -> None:
    """Load the lazy tables (ZIP data ~1 s, phone metadata ~50 ms, partners) before any event."""
    geocode.warm()
    # An extension takes phonenumbers' slow path, which loads its metadata (US and the NANP).
    normalize_phone("+1 416 555 0134 ext. 1")
    bundled_partners()
