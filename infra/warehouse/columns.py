"""Records → one list per column, in a table's column order: the block both backends insert.

Written once for both backends: the server hands the lists to clickhouse-driver as a
columnar block, the embedded engine wraps them as Arrow arrays. Values are already in the
column's ClickHouse shape (datetimes as epoch seconds, dicts as key/value arrays), so
neither backend converts per value again.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec

from infra.warehouse.result import QueryResult
from schemas.ddl import Column, Table

_timestamp = datetime.timestamp


def build_columns(
    table: Table, records: Sequence[msgspec.Struct], landed_ms: int
) -> list[list[Any]]:
    """One list per column of `table` (in `table.columns` order) from `records`.

    >>> from schemas.ddl import OUTCOMES
    >>> from schemas.outcome import Outcome
    >>> build_columns(OUTCOMES, [Outcome(lead_id="a", kind="purchase", occurred_ms=5)], 9)
    [['a'], ['purchase'], [5], [None], [None], [9]]
    """
    if table.record is None:
        raise TypeError(f"table {table.name} has no record type to build columns from")
    field_index = {name: i for i, name in enumerate(table.record.__struct_fields__)}
    count = len(records)
    with _gc_paused():
        # One pass over the structs (astuple is C), then a C-level transpose.
        by_field: list[tuple[Any, ...]] = (
            list(zip(*map(msgspec.structs.astuple, records), strict=True))
            if count
            else [() for _ in field_index]
        )
        return [
            _column_values(column, by_field, field_index, count, landed_ms)
            for column in table.columns
        ]


@contextmanager
def _gc_paused() -> Iterator[None]:
    # A batch allocates ~10 objects a row, none cyclic; with GC on, those allocations
    # trigger full collections over the worker's whole heap (measured ~40% of build time).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _column_values(
    column: Column,
    by_field: list[tuple[Any, ...]],
    field_index: dict[str, int],
    count: int,
    landed_ms: int,
) -> list[Any]:
    if column.extract == "landed_ms":
        return [landed_ms] * count
    if column.source is None:
        raise TypeError(f"column {column.name} has no source field")
    values = by_field[field_index[column.source]]
    match column.extract:
        case "value":
            return list(values)  # a list: clickhouse-driver rewrites Nullable cells in place
        case "epoch_seconds":
            # Aware values (the contract) take the fast path; None and naive the slow one.
            return [
                int(_timestamp(value))
                if value is not None and value.tzinfo is not None
                else (None if value is None else epoch_seconds(value))
                for value in values
            ]
        case "keys":
            return [list(mapping) for mapping in values]
        case "values":
            return [list(mapping.values()) for mapping in values]
    raise ValueError(f"unknown extract {column.extract!r}")


def records_from(table: Table, result: QueryResult) -> list[Any]:
    """The records in `result`, rows of `table` with its column names: `build_columns`
    backwards. DateTime columns hold whole seconds, so datetimes come back floored.

    >>> from schemas.ddl import OUTCOMES
    >>> from schemas.outcome import Outcome
    >>> rows = QueryResult(OUTCOMES.column_names, [("a", "purchase", 5, None, None, 9)])
    >>> records_from(OUTCOMES, rows)
    [Outcome(lead_id='a', kind='purchase', occurred_ms=5, buyer_id=None, amount=None)]
    """
    if table.record is None:
        raise TypeError(f"table {table.name} has no record type to read rows into")
    position = {name: i for i, name in enumerate(result.columns)}
    fields = [(column, position[column.name]) for column in table.columns
              if column.source is not None]
    records = []
    for row in result.rows:
        values: dict[str, Any] = {}
        keys: dict[str, list[Any]] = {}
        for column, index in fields:
            value, source = row[index], column.source
            assert source is not None
            match column.extract:
                case "epoch_seconds":
                    values[source] = None if value is None else _utc(value)
                case "keys":
                    keys[source] = value
                case "values":
                    values[source] = dict(zip(keys.pop(source), value, strict=True))
                case _ if value is None:
                    values[source] = None
                case _ if column.kind == "bool":  # UInt8
                    values[source] = bool(value)
                case _ if column.kind == "bytes" and isinstance(value, str):  # valid UTF-8
                    values[source] = value.encode()
                case _:
                    values[source] = value
        records.append(msgspec.convert(values, table.record))
    return records


def _utc(value: datetime | int) -> datetime:
    if isinstance(value, int):
        return datetime.fromtimestamp(value, UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, floored (DateTime has no sub-second part on 18.16).

    A naive datetime is taken as UTC, never as the machine's local time.

    >>> epoch_seconds(datetime(2024, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC))
    1704067200
    >>> epoch_seconds(datetime(2024, 1, 1))
    1704067200
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(_timestamp(moment))


def dedup_token(table: Table, columns: list[list[Any]]) -> str:
    """A token naming a batch's content (its `token_columns`), not when it landed.

    Re-landing the same batch gives the same token, so a server with insert deduplication
    drops the whole block instead of writing duplicates for merges to collapse later.
    """
    names = table.column_names
    identity = [columns[names.index(name)] for name in table.token_columns]
    digest = hashlib.blake2b(msgspec.msgpack.encode(identity), digest_size=16).hexdigest()
    return f"{table.name}-{digest}"
