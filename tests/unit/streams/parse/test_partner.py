"""Partner CSV rows: each bundled partner's documented row, CSV in the wild, every reason code."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import (
    BadEmail,
    BadEncoding,
    BadPhone,
    BadShape,
    BadTimestamp,
    LeadRejected,
    MissingContact,
    UnknownPartner,
)
from streams.identity import content_id, lead_id
from streams.parse.partner import _row, parse_partner
from streams.parse.partner_mappings import PartnerRegistry, load_partners
from streams.parse.registry import parse
from tests.unit.streams.parse.fixtures import (
    FUZZ,
    NOON,
    RECEIVED,
    assert_rejects,
    jane_in_austin,
    only_rejections,
    partner_ids,
)

HOMEQUEST = {"x-partner-id": "homequest"}
MOVEWISE = {"x-partner-id": "movewise"}
RELOHUB = {"x-partner-id": "relohub"}

# The example in schemas/raw.py (one row, its line ending as the feed sends it).
ROW = (
    b'HQ-100234,2026-05-01 12:00:00,Jane,Doe,jane@example.com,(512) 555-0134,"12 Oak St, Apt 4",'
    b'Austin,TX,78701,Buyer,"$400,000",Single Family,3,Yes,"Call after 5, please"\r\n'
)
EXPECTED = jane_in_austin(
    "partner",
    "homequest:HQ-100234",
    intent="buy",
    property_type="single_family",
    price=400_000.0,
    beds=3,
    street="12 Oak St, Apt 4",
    consent=True,
    message="Call after 5, please",
    campaign_id="homequest",
)
BUNDLED = load_partners(None)
HQ_COLUMNS = BUNDLED["homequest"].columns


def hq_row(**edits: str) -> bytes:
    """ROW with cells replaced by column name, written by a real CSV writer."""
    cells = dict(zip(HQ_COLUMNS, next(csv.reader([ROW.decode().rstrip()])), strict=True))
    cells.update(edits)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells.values())
    return out.getvalue().encode()


def test_documented_example() -> None:
    assert parse_partner(ROW, RECEIVED, HOMEQUEST) == EXPECTED


def test_movewise_semicolons_coded_intent_central_time() -> None:
    row = (
        b'MW-88;05/01/2026 07:00 AM;"DOE, JANE";Jane@Example.com;;512-555-0134;78701;S;'
        b"$450k;Corner lot; nice;Y;203.0.113.7\n"
    )
    with pytest.raises(BadShape):  # the unquoted ";" in the notes makes a 13th field
        parse_partner(row, RECEIVED, MOVEWISE)
    row = row.replace(b"Corner lot; nice", b'"Corner lot; nice"')
    lead = parse_partner(row, RECEIVED, MOVEWISE)
    assert lead == msgspec.structs.replace(
        EXPECTED,
        lead_id=lead_id("partner", "movewise:MW-88"),
        source_lead_id="movewise:MW-88",
        event_time=NOON,  # 7 AM CDT is noon UTC
        intent="sell",
        property_type=None,
        price=450_000.0,
        beds=None,
        street=None,
        message="Corner lot; nice",
        campaign_id="movewise",
        ip="203.0.113.7",
    )


def test_relohub_tabs_epoch_seconds_coordinates_and_a_default_intent() -> None:
    row = (
        "RH-1\t1777636800\tZoë\tvan der Berg\t\t+1 512 555 0134\tL-2231\t30.2713\t-97.7426"
        "\tAustin\tTX\t78701\tcondo\t$455,000\t2"
    ).encode()
    lead = parse_partner(row, RECEIVED, RELOHUB)
    assert lead == msgspec.structs.replace(
        EXPECTED,
        lead_id=lead_id("partner", "relohub:RH-1"),
        source_lead_id="relohub:RH-1",
        first_name="Zoë",
        last_name="van der Berg",
        email=None,
        property_type="condo",
        price=455_000.0,
        beds=2,
        street=None,
        lat=30.2713,
        lon=-97.7426,
        location_precision="exact",
        consent=False,
        message="",
        listing_id="L-2231",
        campaign_id="relohub",
    )


@pytest.mark.parametrize(
    ("raw", "changes"),
    [
        # line endings, byte-order marks
        (ROW.rstrip(b"\r\n"), {}),
        (ROW.replace(b"\r\n", b"\n"), {}),
        (ROW.replace(b"\r\n", b"\r"), {}),
        (b"\xef\xbb\xbf" + ROW, {}),
        # quoting: delimiters, quotes and line breaks inside quoted fields
        (hq_row(Comments='She said "call me", twice'), {"message": 'She said "call me", twice'}),
        (hq_row(Comments="line one\r\nline two"), {"message": "line one\r\nline two"}),
        (hq_row(Address=" 12 Oak St, Apt 4 "), {}),
        # unicode names, names in capitals
        (hq_row(**{"First Name": "JOSÉ", "Last Name": "ÑÚÑEZ"}),
         {"first_name": "José", "last_name": "Ñúñez"}),
        (hq_row(**{"First Name": "李", "Last Name": ""}), {"first_name": "李", "last_name": ""}),
        # numbers as text in every shape
        (hq_row(**{"Price Range": "400000"}), {}),
        (hq_row(**{"Price Range": "$350k-$450k"}), {}),
        (hq_row(**{"Price Range": "call"}), {"price": None}),
        (hq_row(Beds="3.0"), {}),
        (hq_row(Beds="three"), {}),
        (hq_row(Zip="78701-3208"), {}),
        (hq_row(Phone="5125550134"), {}),
        (hq_row(Phone="512-555-0134 x12"), {"phone": "+15125550134"}),
        # codes and flags
        (hq_row(**{"Lead Type": "SELLER"}), {"intent": "sell"}),
        (hq_row(**{"Lead Type": ""}), {"intent": "unknown"}),
        (hq_row(**{"Opt In": "N"}), {"consent": False}),
        (hq_row(**{"Property Type": "Townhome"}), {"property_type": "townhouse"}),
        # missing optional cells
        (hq_row(**{"Lead ID": ""}), None),
        (hq_row(Email=""), {"email": None}),
        (hq_row(Phone=""), {"phone": None}),
        (hq_row(Email="jane@"), {"email": None}),
        (hq_row(Zip="", City="", State=""),
         {"zip": None, "city": None, "state": None, "lat": None, "lon": None,
          "location_precision": "none"}),
        # odd times
        (hq_row(Created="2026-05-01T12:00:00Z"), {}),
        (hq_row(Created="2026-05-01T07:00:00-05:00"), {}),
        (hq_row(Created="05/01/2026 12:00"), {}),
        (hq_row(Created="1777636800000"), {}),
    ],
)  # fmt: skip
def test_row_variants(raw: bytes, changes: dict[str, object] | None) -> None:
    lead = parse_partner(raw, RECEIVED, HOMEQUEST)
    if changes is None:  # no id of its own: the partner and a hash of the bytes
        assert lead.source_lead_id == f"homequest:{content_id(raw)}"
        return
    assert lead == msgspec.structs.replace(EXPECTED, **changes)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-partner-id": "homequest"},
        {"X-Partner-Id": "homequest"},
        {"x-partner-id": " HomeQuest "},
        {"x-partner-id": b"homequest"},  # a Kafka client that hands headers over as bytes
        {"content-type": "text/csv", "x-partner-id": "homequest"},
    ],
)
def test_partner_header_spellings(headers: dict[str, str]) -> None:
    assert parse_partner(ROW, RECEIVED, headers) == EXPECTED


def test_registry_is_a_parameter_the_worker_passes(tmp_path: Path) -> None:
    path = tmp_path / "partners.json"
    path.write_text(
        '{"partners": {"mini": {"columns": ["e", "t"], "delimiter": "|",'
        ' "map": {"email": "e", "event_time": "t"}}}}'
    )
    mini = load_partners(path)
    row = b"jane@example.com|2026-05-01T12:00:00Z"
    assert parse_partner(row, RECEIVED, {"x-partner-id": "mini"}, registry=mini).email == (
        "jane@example.com"
    )
    with pytest.raises(UnknownPartner):  # the bundled registry has no "mini"
        parse_partner(row, RECEIVED, {"x-partner-id": "mini"})
    # Through the registry of parsers, as the ingest stage calls it.
    lead = parse("partner", row, RECEIVED, headers={"x-partner-id": "mini"}, partners=mini)
    assert lead.campaign_id == "mini"
    with pytest.raises(UnknownPartner):
        parse("partner", ROW, RECEIVED, headers=HOMEQUEST, partners=mini)


def test_a_feed_without_times_is_as_new_as_its_arrival() -> None:
    spec = BUNDLED["homequest"]
    fields = {k: v for k, v in spec.fields.items() if k != "event_time"}
    timeless = PartnerRegistry([dataclasses.replace(spec, fields=fields)])
    lead = parse_partner(hq_row(Created="whenever"), RECEIVED, HOMEQUEST, registry=timeless)
    assert lead.event_time == RECEIVED


@pytest.mark.parametrize(
    ("raw", "headers", "error"),
    [
        (ROW, {}, UnknownPartner),
        (ROW, {"x-partner-id": ""}, UnknownPartner),
        (ROW, {"x-partner-id": "acme-leads"}, UnknownPartner),
        (ROW, {"x-partner": "homequest"}, UnknownPartner),
        (b"", HOMEQUEST, BadShape),
        (b"\r\n", HOMEQUEST, BadShape),
        (ROW.replace(b',"Call after 5, please"', b""), HOMEQUEST, BadShape),  # a field short
        (ROW.rstrip() + b",extra\r\n", HOMEQUEST, BadShape),  # a field over
        (ROW.replace(b'"Call after 5, please"', b"Call after 5, please"), HOMEQUEST, BadShape),
        (ROW + ROW, HOMEQUEST, BadShape),  # two rows in one message
        (ROW[:60], HOMEQUEST, BadShape),  # cut off mid-row
        (ROW.replace(b'"$400,000"', b'"$400,000'), HOMEQUEST, BadShape),  # unterminated quote
        (ROW.replace(b'"$400,000"', b'"$400,000"x'), HOMEQUEST, BadShape),  # junk after a quote
        (ROW.replace(b",", b";"), HOMEQUEST, BadShape),  # another partner's delimiter
        (",".join(HQ_COLUMNS).encode() + b"\r\n", HOMEQUEST, BadShape),  # the header row
        (b"<html><body>502 Bad Gateway</body></html>", HOMEQUEST, BadShape),
        (b'{"email": "jane@example.com"}', HOMEQUEST, BadShape),
        (ROW.replace(b"Jane,Doe", "José,Müller".encode("latin-1")), HOMEQUEST, BadEncoding),
        (ROW.decode().encode("utf-16"), HOMEQUEST, BadEncoding),
        (hq_row(Created=""), HOMEQUEST, BadTimestamp),
        (hq_row(Created="yesterday"), HOMEQUEST, BadTimestamp),
        (hq_row(Created="2026-13-45 25:61:00"), HOMEQUEST, BadTimestamp),
        (hq_row(Email="", Phone=""), HOMEQUEST, MissingContact),
        (hq_row(Email="jane@", Phone=""), HOMEQUEST, BadEmail),
        (hq_row(Email="", Phone="555-0134"), HOMEQUEST, BadPhone),
    ],
)
def test_rejections(raw: bytes, headers: dict[str, str], error: type[LeadRejected]) -> None:
    assert_rejects(error, parse_partner, raw, headers)


def test_a_time_in_the_wrong_format_names_the_format() -> None:
    row = b"MW-1;2026-05-01 12:00:00;Jane Doe;jane@example.com;;;78701;B;;;Y;"
    with pytest.raises(BadTimestamp, match="%m/%d/%Y"):
        parse_partner(row, RECEIVED, MOVEWISE)
    with pytest.raises(BadTimestamp, match="epoch"):
        parse_partner(b"RH-1\tnoon\t\t\tjane@example.com" + b"\t" * 10, RECEIVED, RELOHUB)


# --- property-based: rows of junk (arbitrary bytes and JSON: test_registry.py) -----------------

cells = st.sampled_from(
    ["", "jane@example.com", "(512) 555-0134", "78701", "$450k", "3+", "B", "Y", "30.27",
     "05/01/2026 07:00 AM", "2026-05-01 12:00:00", "1777636800", "nan", "1e999", '"', ",", ";",
     "\t", "\r\n"]
) | st.text(max_size=12)  # fmt: skip


@FUZZ
@given(partner_id=partner_ids, data=st.data())
def test_rows_of_the_right_width_with_junk_cells(partner_id: str, data: st.DataObject) -> None:
    spec = BUNDLED.get(partner_id) or BUNDLED["homequest"]
    row = data.draw(st.lists(cells, min_size=len(spec.columns), max_size=len(spec.columns)))
    out = io.StringIO()
    csv.writer(out, delimiter=spec.delimiter, lineterminator="\r\n").writerow(row)
    only_rejections("partner", out.getvalue().encode(), {"x-partner-id": partner_id})


@FUZZ
@given(partner_id=partner_ids, data=st.data())
def test_rows_without_quotes_read_as_the_csv_module_reads_them(
    partner_id: str, data: st.DataObject
) -> None:
    # Such rows skip the csv module (a plain split); it must read them the same.
    spec = BUNDLED.get(partner_id) or BUNDLED["homequest"]
    plain = st.text(st.characters(exclude_categories=["Cs"],
                                  exclude_characters=f'"\r\n\0\ufeff{spec.delimiter}'),
                    max_size=20)
    row = data.draw(st.lists(plain, min_size=len(spec.columns), max_size=len(spec.columns)))
    text = spec.delimiter.join(row)
    if not text.strip() or tuple(row) == spec.columns:
        return  # refused before or after splitting, either way
    expected = next(csv.reader([text], delimiter=spec.delimiter, quotechar=spec.quotechar))
    assert _row(text.encode(), spec) == expected == row
