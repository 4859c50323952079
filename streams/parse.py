"""Raw bytes from `leads.raw.<source>` → canonical `Lead`: the per-source parser registry.

Contract: `parse(source, raw, received)` returns a `Lead` or raises a `LeadRejected`
subclass — UnknownSource, Oversize (checked here, and only here), or whatever the
source's parser raises. Any other exception escaping is a bug (the agent files it
under `internal_error`).

A new source is one module `streams/parse_<source>.py` exposing
`parse_<source>(raw: bytes, received: datetime) -> Lead`, registered in `PARSERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from schemas.lead import Lead
from streams import geocode
from streams.errors import Oversize, UnknownSource
from streams.normalize import normalize_phone
from streams.parse_facebook import parse_facebook
from streams.parse_portal import parse_portal

Parser = Callable[[bytes, datetime], Lead]

PARSERS: dict[str, Parser] = {
    "portal": parse_portal,
    "facebook": parse_facebook,
}

DEFAULT_MAX_BYTES = 64 * 1024  # `Settings.max_event_bytes` at the agent


def parse(
    source: str, raw: bytes, received: datetime, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Lead:
    """Parse one raw event of `source` received at `received` (UTC-aware)."""
    parser = PARSERS.get(source)
    if parser is None:
        raise UnknownSource(f"no parser for source {source[:64]!r}")
    if len(raw) > max_bytes:
        raise Oversize(f"{len(raw)} bytes > limit {max_bytes}")
    return parser(raw, received)


def warm() -> None:
    """Load the lazy tables (ZIP data ~1 s, phone metadata ~50 ms) before the first event."""
    geocode.warm()
    # An extension takes phonenumbers' slow path, which loads its metadata (US and the NANP).
    normalize_phone("+1 416 555 0134 ext. 1")
