"""What the parser tests share: the clock, the lead, edit helpers, rejections, the fuzz kit.

Every source's documented example is the same person, Jane Doe of downtown Austin (78701),
sent at noon UTC on 1 May 2026 and received three seconds later. `jane_in_austin` builds
that lead; each source's test file states only what its source adds or says differently.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from schemas.lead import Lead, ScoredLead
from streams.errors import LeadRejected
from streams.identity import lead_id
from streams.parse.decode import NO_HEADERS
from streams.parse.geocode import ZipPlace, zip_place
from streams.parse.partner_mappings import load_partners
from streams.parse.registry import Parser, parse

# --- the clock and the place ---------------------------------------------------------------

NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NOON_MS = 1_777_636_800_000  # NOON in epoch milliseconds
RECEIVED = datetime(2026, 5, 1, 12, 0, 3, tzinfo=UTC)


def known_zip(zip5: str) -> ZipPlace:
    """The bundled data's place for a ZIP the tests rely on."""
    place = zip_place(zip5)
    assert place is not None, f"{zip5} is not in the bundled ZIP data"
    return place


AUSTIN = known_zip("78701")


def jane_in_austin(source: str, source_lead_id: str, **fields: Any) -> Lead:
    """The lead of a documented example from `source`; `fields` say what differs or is added."""
    jane: dict[str, Any] = {
        "lead_id": lead_id(source, source_lead_id),
        "source": source,
        "source_lead_id": source_lead_id,
        "event_time": NOON,
        "received_time": RECEIVED,
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane@example.com",
        "phone": "+15125550134",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "lat": AUSTIN.lat,
        "lon": AUSTIN.lon,
        "location_precision": "zip",
    }
    return Lead(**{**jane, **fields})


# --- building events -------------------------------------------------------------------------

DELETE = object()  # an edit's value that removes the key


def encode(doc: object) -> bytes:
    return msgspec.json.encode(doc)


def edited(
    base: Mapping[str, Any], edits: Mapping[str, object], *, nested: bool = False
) -> dict[str, Any]:
    """A deep copy of `base` with `edits` set, or removed where the value is `DELETE`.

    With `nested`, a key is a dotted path into nested objects ("listing.address.zip").
    """
    doc = copy.deepcopy(dict(base))
    for path, value in edits.items():
        *parents, leaf = path.split(".") if nested else [path]
        node = doc
        for key in parents:
            node = node[key]
        if value is DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return doc


# --- rejections ------------------------------------------------------------------------------


def assert_rejects(
    error: type[LeadRejected],
    parser: Parser,
    raw: bytes,
    headers: Mapping[str, str] = NO_HEADERS,
    *,
    detail: str = "",
) -> None:
    """`parser` refuses `raw` with `error`, under its own reason code, saying why (`detail`)."""
    with pytest.raises(error) as caught:
        parser(raw, RECEIVED, headers)
    assert caught.value.reason == error.reason
    assert caught.value.detail
    assert detail in caught.value.detail


# --- property-based: only rejections escape ---------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON numbers past int64 and float64's edges: msgspec decodes ints of ~400 digits.
huge_numbers = st.sampled_from([10**400, -(10**300), 2**64, 1.7e308, -1e-320, 5e-324])
json_scalars = st.none() | st.booleans() | st.integers() | huge_numbers | st.floats() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)

# Headers as sources send them, mostly: a partner id (known or not), perhaps a declared body
# syntax and the client's address; else any of those names with any text, or no headers.
partner_ids = st.sampled_from([*load_partners(None), "nope"])  # the bundled ones, or none
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=latin-1",
        "application/x-www-form-urlencoded; charset=utf-16",
        "multipart/form-data",
        "text/csv",
    ]
) | st.text(max_size=20)
_as_sent = st.fixed_dictionaries(
    {"x-partner-id": partner_ids},
    optional={
        "content-type": content_types,
        "x-forwarded-for": st.sampled_from(["203.0.113.7, 10.0.0.1", "junk"]),
        "x-real-ip": st.sampled_from(["2001:DB8::1", "junk"]),
    },
)
_any_text = st.dictionaries(
    st.sampled_from(["content-type", "x-forwarded-for", "x-real-ip", "x-partner-id"]), st.text()
)
message_headers = st.one_of(_as_sent, _as_sent, _as_sent, _any_text)


def only_rejections(source: str, raw: bytes, headers: Mapping[str, str] | None = None) -> None:
    """Parse; a `Lead` must survive the trip to `leads.scored`, a failure must be a rejection."""
    try:
        lead = parse(source, raw, RECEIVED, headers=headers)
    except LeadRejected as rejected:  # anything else propagates and fails the test
        event(rejected.reason)
        if rejected.reason == "rejected" or not rejected.detail:
            raise AssertionError("a rejection needs a specific reason and a detail") from None
        return
    event("lead")
    scored = ScoredLead(**msgspec.structs.asdict(lead))
    assert msgspec.json.decode(msgspec.json.encode(scored), type=ScoredLead) == scored


# Arbitrary JSON rarely gets past a parser's shape check. Shaped junk keeps a source's
# required keys valid and fills the rest mostly plausibly, otherwise with junk, so that every
# normaliser downstream sees junk too. These are the pieces the sources' strategies share.
def maybe(keys: dict[str, st.SearchStrategy[object]]) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries({}, optional=keys)


def mostly(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(*[good] * 9, json_values)


text_or_junk = st.text(max_size=30) | json_scalars
ids = st.text(max_size=10) | st.integers()
timestamps = st.sampled_from(
    ["2026-05-01T12:00:00Z", "2026-05-01T12:00:00+0000", "1777636800", "05/01/2026"]
)
emails = st.sampled_from(["Jane@Example.com", " jane@example.com", "jane@", ""]) | st.emails()
phones = st.sampled_from(["(512) 555-0134", "+44 20 7946 0958", "555"]) | st.from_regex(
    r"\+?1? ?\(?[2-9]\d\d\)? ?\d{3}-?\d{4}", fullmatch=True
)
prices = json_scalars | st.sampled_from(["$450,000", "1.2M", "$3-4k", "nan", "1e999", "-1"])
counts = json_scalars | st.sampled_from(["3+", "studio", "-2", "1e999", "3.5"])
zips = st.sampled_from(["78701", "00000", "35270", "99999-1234"]) | json_scalars
