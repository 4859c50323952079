"""A rendered lead document on the wire: its bytes, its headers, and the byte-level defects.

Contract:

* `Rendered` is what a renderer (`streams.traffic.formats`) returns: the document as
  a dict, how it is encoded (`Encoding`: JSON, a one-event JSON array, a URL-encoded
  form or one CSV row), the message headers, the source id and the truth features.
  The document stays a dict until `encode`, so later stages (fraud stamping an IP,
  duplicates) can edit it whatever the format.
* `to_wire(rng, source, rendered, defect, expected)` → `Wire`: the value bytes, whether
  the sender still keyed the message by the source id, the reason code the parsers
  give it, and the headers. For JSON sources a byte-level defect gives the code in
  `streams.traffic.generator.DEFECTS`; formats without JSON syntax get the nearest real failure:

  ============== ========================================= ==========================
  defect         webform (form or JSON body)               partner (CSV row)
  ============== ========================================= ==========================
  truncated_json sent as JSON, cut short → bad_json         trailing fields lost →
                                                            bad_shape
  not_json       declared JSON, HTML inside → bad_json      HTML, one field → bad_shape
  empty_body     declared JSON, empty → bad_json            empty → bad_shape
  bad_encoding   Latin-1 bytes → bad_encoding               Latin-1 bytes → bad_encoding
  missing_id     (ids are optional) a JSON array → bad_shape the id column lost →
                                                            bad_shape
  wrong_shape    a JSON array → bad_shape                   two rows → bad_shape
  ============== ========================================= ==========================

  The CRM's ``wrong_shape`` is a batch of two events (one is accepted); its
  ``missing_id`` drops ``objectId``. ``unknown_partner`` (partner only) names a partner
  the registry does not know, or sends no ``x-partner-id`` at all.
"""

from __future__ import annotations

import csv
import io
import random
from typing import Any, Literal
from urllib.parse import urlencode

import msgspec
import orjson

from streams.traffic.ground_truth import TruthFeatures

_NOT_JSON = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center>502 Bad Gateway"
    b"</center></body></html>",
    b"name=Jane+Doe&email=jane%40example.com&phone=5125550134",
)
_NOT_CSV = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center>502 Bad Gateway"
    b"</center></body></html>",
    b"ERROR: export failed (quota exceeded)",
)
_UNKNOWN_PARTNERS = ("acme-leads", "HomeQuest Leads", "test", "null")
_JSON = "application/json"


class Encoding(msgspec.Struct, frozen=True, kw_only=True):
    """How a document becomes bytes."""

    kind: Literal["json", "json_batch", "form", "csv"] = "json"
    delimiter: str = ","  # csv
    quotechar: str = '"'  # csv
    prefix: str = ""  # a byte-order mark, say
    suffix: str = ""  # the line ending after a CSV row


JSON = Encoding()


class Rendered(msgspec.Struct, frozen=True, kw_only=True):
    source_id: str
    doc: dict[str, Any]  # a CSV row is {column: value} in column order
    id_field: str  # the top-level field holding `source_id` ("" when the id is derived)
    features: TruthFeatures
    headers: dict[str, str] = {}  # message headers: x-partner-id, content-type, …
    encoding: Encoding = JSON


class Wire(msgspec.Struct, frozen=True, kw_only=True):
    value: bytes
    keyed: bool  # whether the sender still keyed the message by the source id
    expected: str  # "valid" or the reason code the ingest path gives the event
    headers: dict[str, str]


def encode(doc: dict[str, Any], encoding: Encoding = JSON) -> bytes:
    """The document's bytes, as its source sends them."""
    if encoding.kind == "json":
        body = orjson.dumps(doc)
    elif encoding.kind == "json_batch":
        body = orjson.dumps([doc])
    elif encoding.kind == "form":
        body = urlencode([(k, _form_value(v)) for k, v in doc.items()]).encode()
    else:
        body = _csv_row(list(doc.values()), encoding).encode()
    if encoding.prefix or encoding.suffix:
        return encoding.prefix.encode() + body + encoding.suffix.encode()
    return body


def _form_value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _csv_row(cells: list[object], encoding: Encoding) -> str:
    out = io.StringIO()
    csv.writer(
        out, delimiter=encoding.delimiter, quotechar=encoding.quotechar, lineterminator=""
    ).writerow(cells)
    return out.getvalue()


def _truncate(rng: random.Random, value: bytes) -> bytes:
    # Any strict prefix of a compact JSON object is invalid JSON; cut on a character
    # boundary so the failure is the JSON, not the UTF-8.
    cut = rng.randint(1, len(value) - 2)
    while cut > 1 and (value[cut] & 0xC0) == 0x80:
        cut -= 1
    return value[:cut]


def to_wire(
    rng: random.Random, source: str, rendered: Rendered, defect: str | None, expected: str
) -> Wire:
    """The message for `rendered` with the byte-level `defect` (if any) applied.

    `expected` is the reason code so far (draw-level defects decide it); a byte-level
    defect may replace it with the code its format really gets (see the module table).
    """
    if defect == "unknown_partner" and source != "partner":
        raise ValueError("unknown_partner is a defect of partner rows only")
    headers = dict(rendered.headers)
    if rendered.encoding.kind == "csv":
        return _csv_wire(rng, rendered, defect, expected, headers)
    doc, encoding = rendered.doc, rendered.encoding
    if encoding.kind == "form" and defect in _JSON_DEFECTS:
        # The form's JSON twin carries JSON's defects (many sites post JSON too).
        encoding, headers = JSON, {**headers, "content-type": _JSON}
    if defect == "bad_encoding":
        return Wire(value=_latin1(doc, encoding), keyed=True, expected=expected, headers=headers)
    if defect == "missing_id":
        if source == "webform":  # ids are optional there: send what no form parser takes
            return Wire(value=orjson.dumps([doc]), keyed=False, expected=expected, headers=headers)
        doc = {k: v for k, v in doc.items() if k != rendered.id_field}
        return Wire(value=encode(doc, encoding), keyed=False, expected=expected, headers=headers)
    if defect == "wrong_shape":
        value = orjson.dumps([doc, doc] if source == "crm" else [doc])
        return Wire(value=value, keyed=True, expected=expected, headers=headers)
    if defect in ("empty_body", "not_json") and source == "webform":
        headers["content-type"] = _JSON  # a body the sender calls JSON
    if defect == "empty_body":
        return Wire(value=b"", keyed=False, expected=expected, headers=headers)
    if defect == "not_json":
        return Wire(value=rng.choice(_NOT_JSON), keyed=False, expected=expected, headers=headers)
    value = encode(doc, encoding)
    if defect == "truncated_json":
        return Wire(value=_truncate(rng, value), keyed=True, expected=expected, headers=headers)
    return Wire(value=value, keyed=True, expected=expected, headers=headers)


_JSON_DEFECTS = frozenset({"truncated_json", "not_json", "empty_body", "missing_id", "wrong_shape"})


def _latin1(doc: dict[str, Any], encoding: Encoding) -> bytes:
    """A Latin-1 sender: the same document, its non-ASCII text in the wrong encoding."""
    if encoding.kind == "form":
        return urlencode(
            [(k, _form_value(v)) for k, v in doc.items()], encoding="latin-1", errors="replace"
        ).encode()
    return encode(doc, encoding).decode().encode("latin-1", errors="replace")


def _csv_wire(
    rng: random.Random,
    rendered: Rendered,
    defect: str | None,
    expected: str,
    headers: dict[str, str],
) -> Wire:
    encoding, cells = rendered.encoding, list(rendered.doc.values())
    shape = "bad_shape"  # what a CSV row gets for JSON's syntax defects
    if defect == "unknown_partner":
        if rng.random() < 0.3:
            headers.pop("x-partner-id", None)
        else:
            headers["x-partner-id"] = rng.choice(_UNKNOWN_PARTNERS)
        return Wire(value=encode(rendered.doc, encoding), keyed=True, expected=expected,
                    headers=headers)  # fmt: skip
    if defect == "bad_encoding":
        value = encode(rendered.doc, encoding).decode().encode("latin-1", errors="replace")
        return Wire(value=value, keyed=True, expected=expected, headers=headers)
    if defect == "truncated_json":  # the feed cut off mid-row: the last fields never came
        keep = rng.randint(1, len(cells) - 1)
        value = _csv_row(cells[:keep], encoding).encode()
        return Wire(value=value, keyed=True, expected=shape, headers=headers)
    if defect == "not_json":
        return Wire(value=rng.choice(_NOT_CSV), keyed=False, expected=shape, headers=headers)
    if defect == "empty_body":
        return Wire(value=b"", keyed=False, expected=shape, headers=headers)
    if defect == "missing_id":
        id_column = list(rendered.doc).index(rendered.id_field) if rendered.id_field else 0
        del cells[id_column]
        value = _csv_row(cells, encoding).encode()
        return Wire(value=value, keyed=False, expected=shape, headers=headers)
    if defect == "wrong_shape":  # a batch where one row a message was agreed
        row = _csv_row(cells, encoding)
        return Wire(value=f"{row}\r\n{row}\r\n".encode(), keyed=True, expected=shape,
                    headers=headers)  # fmt: skip
    return Wire(value=encode(rendered.doc, encoding), keyed=True, expected=expected,
                headers=headers)  # fmt: skip
