"""A query's answer as Python values, its text renderings, and its JSON wire shape.

Contract:
- `QueryResult(columns, rows)`: column names and row tuples. Both backends return the same
  Python values for our column types: str (or bytes when a String is not valid UTF-8, so
  raw bytes come back exactly), int, float, None, aware UTC datetimes, lists.
- `render(fmt)`: "table" (aligned text), "tsv" (TabSeparatedWithNames escaping, NULL as
  `\\N`) or "json" (the wire shape below).
- Wire shape (the worker's `/warehouse/sql` view and `aiqleads sql` share it):
  `{"columns": [...], "rows": [[...], ...]}`, errors as `{"error": "..."}`.
  `result_to_json` keeps JSON-native values, tags bytes and datetimes so they come back
  exactly (`{"$bytes": base64}`, `{"$datetime": iso}`: a DLQ record's raw bytes must
  survive the trip), and turns the rest (non-finite floats, decimals, UUIDs) into their
  rendered text, so `render(result_from_json(result_to_json(r))) == render(r)` for every
  format.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from infra.warehouse.errors import QueryFailed, WarehouseError

Format = Literal["table", "tsv", "json"]
FORMATS: tuple[Format, ...] = ("table", "tsv", "json")


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def render(self, fmt: str = "table") -> str:
        if fmt == "table":
            return _render_table(self)
        if fmt == "tsv":
            return _render_tsv(self)
        if fmt == "json":
            return json.dumps(_display_json(self), ensure_ascii=False)
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")

    def column(self, name: str) -> list[Any]:
        """Every value of one column."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def scalar(self) -> Any:
        """The single value of a one-row, one-column result (`SELECT count() …`)."""
        if len(self.rows) != 1 or len(self.columns) != 1:
            raise ValueError(f"not a scalar result: {len(self.rows)} rows x {self.columns}")
        return self.rows[0][0]


def normalise(value: Any) -> Any:
    """A backend's value in the shared shape: UTF-8 bytes decoded, aware datetimes in UTC."""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return bytes(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, list | tuple):
        return [normalise(item) for item in value]
    if isinstance(value, dict):
        return {normalise(key): normalise(item) for key, item in value.items()}
    return value


def result_to_json(result: QueryResult) -> dict[str, Any]:
    """The wire shape of a result: JSON-native values, bytes and datetimes tagged."""
    return {
        "columns": list(result.columns),
        "rows": [[_json_value(value, tagged=True) for value in row] for row in result.rows],
    }


def _display_json(result: QueryResult) -> dict[str, Any]:
    """`--format json` for people: bytes and datetimes as ClickHouse prints them."""
    return {
        "columns": list(result.columns),
        "rows": [[_json_value(value, tagged=False) for value in row] for row in result.rows],
    }


def result_from_json(data: Mapping[str, Any]) -> QueryResult:
    """A result from its wire shape; `{"error": ...}` raises `QueryFailed`."""
    if "error" in data:
        raise QueryFailed(str(data["error"]))
    try:
        return QueryResult(
            tuple(data["columns"]),
            [tuple(_from_json_value(value) for value in row) for row in data["rows"]],
        )
    except (KeyError, TypeError) as exc:
        raise WarehouseError(f"not a query result: {exc}") from exc


def error_to_json(error: BaseException) -> dict[str, str]:
    return {"error": str(error)}


def _json_value(value: Any, *, tagged: bool) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if tagged and isinstance(value, bytes):
        return {_BYTES_TAG: base64.b64encode(value).decode()}
    if tagged and isinstance(value, datetime):
        return {_DATETIME_TAG: value.isoformat()}
    if isinstance(value, float):
        return value if math.isfinite(value) else _text(value)
    if isinstance(value, list | tuple):
        return [_json_value(item, tagged=tagged) for item in value]
    if isinstance(value, dict):
        return {_text(key): _json_value(item, tagged=tagged) for key, item in value.items()}
    return _text(value)


_BYTES_TAG = "$bytes"
_DATETIME_TAG = "$datetime"


def _from_json_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json_value(item) for item in value]
    if isinstance(value, dict) and len(value) == 1:
        if _BYTES_TAG in value:
            return base64.b64decode(value[_BYTES_TAG])
        if _DATETIME_TAG in value:
            return datetime.fromisoformat(value[_DATETIME_TAG])
    return value


def _text(value: Any) -> str:
    """A non-NULL value as text, the way ClickHouse prints it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return f"{text}.{value.microsecond:06d}" if value.microsecond else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ",".join(_inner_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_inner_text(k)}:{_inner_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _inner_text(value: Any) -> str:
    # Inside arrays ClickHouse quotes everything that is not a number.
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float | list | tuple | dict):
        return _text(value)
    return "'" + _text(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _cell(value: Any) -> str:
    return "NULL" if value is None else _text(value)


def _render_table(result: QueryResult) -> str:
    if not result.columns:
        return "OK"
    cells = [[_cell(value) for value in row] for row in result.rows]
    widths = [
        max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(result.columns)
    ]

    def line(texts: list[str]) -> str:
        # Left-aligned throughout: alignment must not depend on value types, which the
        # JSON wire shape does not keep (a NaN arrives as the text "nan").
        return "  ".join(
            text.ljust(width) for text, width in zip(texts, widths, strict=True)
        ).rstrip()

    lines = [line(list(result.columns)), line(["-" * width for width in widths])]
    lines.extend(line(row) for row in cells)
    lines.append(f"({len(result.rows)} row{'' if len(result.rows) == 1 else 's'})")
    return "\n".join(lines)


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _render_tsv(result: QueryResult) -> str:
    def field(value: Any) -> str:
        return "\\N" if value is None else _text(value).translate(_TSV_ESCAPES)

    lines = ["\t".join(field(name) for name in result.columns)] if result.columns else []
    lines.extend("\t".join(field(value) for value in row) for row in result.rows)
    return "\n".join(lines)
