"""Partner CSV feeds: each partner's columns, delimiter, field mapping and time format.

Contract:
- `load_partners(path)` reads a registry file (None: the bundled `schemas/partners.json`)
  and checks all of it; a wrong file raises `PartnerConfigError` naming the partner and
  the problem. That is configuration, found at start-up: never a reason code.
- There is no registry in a module global: the worker and the API load theirs from
  `Settings.partners_file` and pass it to `parse(..., partners=...)`; `bundled_partners()`
  is the bundled file, read once, for callers that pass none (tests, the simulator).
- A `PartnerSpec` is immutable and ready for the hot path: `fields[canonical]` holds the
  column positions to read, first non-empty wins; `values` codes are case-folded.

File format (JSON)::

    {"format": "aiqleads-partners/1",
     "partners": {"<partner_id>": {
         "name": "free text",
         "columns": ["the", "header", "in", "order"],
         "delimiter": ",",                      (one character; default ",")
         "quotechar": "\\"",                    (default '"')
         "map": {"<canonical field>": "<column>" or ["<column>", "<fallback column>"]},
         "values": {"<canonical field>": {"<partner's code>": "<our value>"}},
         "defaults": {"<canonical field>": "<value when its column is absent or empty>"},
         "date_format": "%m/%d/%Y %I:%M %p",    (strptime, or "epoch" for Unix seconds or
                                                milliseconds; omitted: ISO, epoch, US dates)
         "timezone": "America/Chicago"}}}       (zone of times without an offset; UTC)

Canonical fields are `FIELDS`. The map must name a column for `email` or `phone`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from streams.errors import AIQLeadsError, BadTimestamp
from streams.parse.decode import parse_layout

FORMAT = "aiqleads-partners/1"
EPOCH = "epoch"  # a `date_format`: Unix time in seconds or milliseconds

# fmt: off
FIELDS: frozenset[str] = frozenset({
    "source_lead_id", "event_time", "full_name", "first_name", "last_name", "email", "phone",
    "street", "city", "state", "zip", "lat", "lon", "intent", "price", "property_type", "beds",
    "consent", "message", "listing_id", "ip",
})
# fmt: on
_PARTNER_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}", re.ASCII)


class PartnerConfigError(AIQLeadsError, ValueError):
    """The partner registry file is unreadable or inconsistent."""


@dataclass(frozen=True, slots=True)
class PartnerSpec:
    partner_id: str
    name: str
    columns: tuple[str, ...]
    delimiter: str
    quotechar: str
    fields: Mapping[str, tuple[int, ...]]  # canonical field → column positions
    values: Mapping[str, Mapping[str, str]]  # canonical field → {casefolded code: value}
    defaults: Mapping[str, str]
    date_format: str | None  # strptime layout, EPOCH, or None: `decode.parse_timestamp`
    zone: tzinfo  # for times that carry no offset


class PartnerRegistry:
    """Partner specs by id (ids are lower-case; lookups fold case and trim)."""

    __slots__ = ("_by_id",)

    def __init__(self, specs: Iterable[PartnerSpec]) -> None:
        by_id: dict[str, PartnerSpec] = {}
        for spec in specs:
            if spec.partner_id in by_id:
                raise PartnerConfigError(f"partner {spec.partner_id!r} declared twice")
            by_id[spec.partner_id] = spec
        self._by_id = by_id

    def get(self, partner_id: str) -> PartnerSpec | None:
        spec = self._by_id.get(partner_id)
        return spec if spec is not None else self._by_id.get(partner_id.strip().lower())

    def __getitem__(self, partner_id: str) -> PartnerSpec:
        spec = self.get(partner_id)
        if spec is None:
            raise KeyError(partner_id)
        return spec

    def __contains__(self, partner_id: object) -> bool:
        return isinstance(partner_id, str) and self.get(partner_id) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"PartnerRegistry({sorted(self._by_id)})"


# --- the file -------------------------------------------------------------------------------


class _Entry(msgspec.Struct, forbid_unknown_fields=True):
    columns: list[str]
    map: dict[str, str | list[str]]
    name: str = ""
    delimiter: str = ","
    quotechar: str = '"'
    values: dict[str, dict[str, str]] = {}
    defaults: dict[str, str] = {}
    date_format: str | None = None
    timezone: str = "UTC"


class _File(msgspec.Struct, forbid_unknown_fields=True):
    partners: dict[str, _Entry]
    format: str = FORMAT


def load_partners(path: Path | None = None) -> PartnerRegistry:
    """The registry in `path` (JSON), or the bundled one when `path` is None."""
    where = str(path) if path is not None else "bundled schemas/partners.json"
    try:
        raw = path.read_bytes() if path is not None else _bundled()
        parsed = msgspec.json.decode(raw, type=_File)
    except (OSError, msgspec.DecodeError) as exc:  # ValidationError is a DecodeError
        raise PartnerConfigError(f"{where}: {exc}") from None
    if parsed.format != FORMAT:
        raise PartnerConfigError(f"{where}: format {parsed.format!r}, expected {FORMAT!r}")
    return PartnerRegistry(_spec(where, pid, entry) for pid, entry in parsed.partners.items())


def _bundled() -> bytes:
    return files("schemas").joinpath("partners.json").read_bytes()


def _spec(where: str, partner_id: str, entry: _Entry) -> PartnerSpec:
    def bad(problem: str) -> PartnerConfigError:
        return PartnerConfigError(f"{where}: partner {partner_id!r}: {problem}")

    if _PARTNER_ID.fullmatch(partner_id) is None:
        raise bad("ids are 1-64 of a-z 0-9 _ . - (lower case, starting alphanumeric)")
    columns = tuple(entry.columns)
    if not columns or any(not c.strip() for c in columns):
        raise bad("columns must be non-empty names")
    if len(set(columns)) != len(columns):
        raise bad("column names must be unique")
    for what, char in (("delimiter", entry.delimiter), ("quotechar", entry.quotechar)):
        if len(char) != 1 or char in "\r\n":
            raise bad(f"{what} must be one character other than CR or LF")
    if entry.delimiter == entry.quotechar:
        raise bad("delimiter and quotechar must differ")
    position = {column: i for i, column in enumerate(columns)}
    fields: dict[str, tuple[int, ...]] = {}
    for field, named in entry.map.items():
        names = [named] if isinstance(named, str) else named
        missing = [n for n in names if n not in position]
        if field not in FIELDS:
            raise bad(f"unknown canonical field {field!r}; fields are {sorted(FIELDS)}")
        if not names or missing:
            raise bad(f"{field!r} maps to columns not in the header: {missing or names}")
        fields[field] = tuple(position[n] for n in names)
    if "email" not in fields and "phone" not in fields:
        raise bad("the map needs an email or a phone column")
    for table in (entry.values, entry.defaults):
        unknown = set(table) - FIELDS
        if unknown:
            raise bad(f"unknown canonical fields {sorted(unknown)}")
    try:
        zone: tzinfo = UTC if entry.timezone == "UTC" else ZoneInfo(entry.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad(f"unknown timezone {entry.timezone!r}") from None
    if entry.date_format is not None and entry.date_format != EPOCH:
        sample = datetime(2026, 5, 1, 13, 4, 5)
        try:
            parse_layout(sample.strftime(entry.date_format), entry.date_format)
        except (ValueError, BadTimestamp) as exc:
            raise bad(f"date_format {entry.date_format!r} does not read back: {exc}") from None
    return PartnerSpec(
        partner_id=partner_id,
        name=entry.name,
        columns=columns,
        delimiter=entry.delimiter,
        quotechar=entry.quotechar,
        fields=MappingProxyType(fields),
        values=MappingProxyType(
            {
                field: MappingProxyType({code.strip().casefold(): v for code, v in codes.items()})
                for field, codes in entry.values.items()
            }
        ),
        defaults=MappingProxyType(dict(entry.defaults)),
        date_format=entry.date_format,
        zone=zone,
    )


# --- the registry the parser uses -------------------------------------------------------------

@cache
def bundled_partners() -> PartnerRegistry:
    """The bundled registry, read once (immutable; a deployment's own file is passed in)."""
    return load_partners(None)
