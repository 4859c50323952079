"""The embedded backend: chdb (the current ClickHouse engine in-process) on a persistent path.

Notes that shaped it:
- chdb is single-process. One OS process may open a path: chdb locks `<path>/status`, and
  a second process fails with "Cannot lock file ... Another server instance in same
  directory is already running". Within a process every connection must use one path:
  another raises "EmbeddedServer already initialized with path ..." until all are closed
  (connections to the same path share one engine). So only the worker opens the warehouse;
  `aiqleads sql` goes through the worker's `/warehouse/sql` view while one runs.
- Inserts write the built columns as an Arrow file next to the warehouse and run
  `INSERT INTO t (cols) SELECT * FROM file(path, 'Arrow')`: the engine reads it without
  the GIL, several times faster than FORMAT JSONEachRow. (`Python(batch)` reads the same
  Arrow buffers in memory, but through the interpreter: under a busy event loop it waited
  for the GIL at every step, ~60x slower.) bool arrays land in UInt8 columns, uint32 epoch
  seconds in DateTime('UTC'), binary in String.
- Results are read as Parquet with strings as binary: Parquet keeps DateTime as a UTC
  timestamp (Arrow IPC would give bare uint32) and binary keeps non-UTF-8 bytes intact.
  Types Parquet cannot carry (a bare NULL, Interval) fall back to JSONCompact text.
- `SET` and `USE` are per connection, so they are issued once on ours in `start()`.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

from infra.warehouse.base import Warehouse
from infra.warehouse.errors import QueryFailed, WarehouseNotStarted, WarehouseUnavailable
from infra.warehouse.result import QueryResult, normalise
from schemas.ddl import DATABASE, Column, Table, quote

if TYPE_CHECKING:
    from chdb.state.sqlitelike import Connection

log = logging.getLogger(__name__)

_ARRAY = re.compile(r"Array\((.*)\)")
_ARROW_SCALARS: dict[str, pa.DataType] = {
    "String": pa.string(),
    "Int64": pa.int64(),
    "UInt64": pa.uint64(),
    "Int32": pa.int32(),
    "UInt32": pa.uint32(),
    "UInt8": pa.uint8(),
    "Float64": pa.float64(),
    "DateTime('UTC')": pa.uint32(),  # epoch seconds
}
_SESSION_SETTINGS = (
    "SET output_format_parquet_string_as_string = 0",
    "SET output_format_parquet_unsupported_types_as_binary = 1",
)
_PARQUET_UNSUPPORTED = "not supported for conversion into Parquet"
_SPOOL = ".insert"  # file name prefix of a batch on its way into a table


class EmbeddedWarehouse(Warehouse):
    def __init__(self, path: Path | str, database: str = DATABASE) -> None:
        self.path = Path(path)
        self.database = database
        self._conn: Connection | None = None

    def describe(self) -> str:
        return f"chdb://{self.path}"

    def query(self, sql: str) -> QueryResult:
        try:
            data = self._query(sql, "Parquet")
        except QueryFailed as exc:
            if _PARQUET_UNSUPPORTED not in str(exc):
                raise
            # The statement produced rows (only then is there output to convert), so
            # running it again as text has no side effect to repeat.
            return self._query_as_text(sql)
        if not data:
            return QueryResult()
        table = pq.ParquetFile(pa.BufferReader(data)).read()
        # By position, not name: a result may repeat a column name (`SELECT a, a`).
        columns = [[normalise(value) for value in column.to_pylist()] for column in table.columns]
        return QueryResult(tuple(table.schema.names), list(zip(*columns, strict=True)))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise WarehouseNotStarted(f"{self.describe()} not started")
        return self._conn

    def _connect(self) -> None:
        import chdb  # the engine is ~400 MB: load it only when the embedded backend is used

        self.close()
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = chdb.connect(str(self.path))
        except Exception as exc:  # chdb raises RuntimeError for a path clash
            raise WarehouseUnavailable(
                f"cannot open {self.describe()}: {exc} (chdb allows one process per path, "
                "and one path per process: is a worker or another `aiqleads sql` using it?)"
            ) from exc
        # Ours now (chdb locks the path): batches of a process killed mid-insert are stale.
        for stale in self.path.glob(f"{_SPOOL}-*.arrow"):
            stale.unlink(missing_ok=True)
        for statement in _SESSION_SETTINGS:
            self._execute(statement)

    def _use_database(self) -> None:
        self._execute(f"USE {quote(self.database)}")

    def _execute(self, statement: str) -> None:
        self._query(statement, "CSV")

    def _insert_columns(self, table: Table, columns: list[list[Any]], token: str | None) -> None:
        started = time.perf_counter()
        batch = pa.Table.from_arrays(
            [
                pa.array(values, type=_arrow_type(column))
                for column, values in zip(table.columns, columns, strict=True)
            ],
            names=list(table.column_names),
        )
        names = ", ".join(quote(name) for name in table.column_names)
        settings = f" SETTINGS insert_deduplication_token = '{token}'" if token else ""
        # Spooled as an Arrow file that the engine reads natively, not `Python(batch)`:
        # that table function reads the Arrow buffers through Python and takes the GIL
        # back again and again, so with the worker's event loop busy an 800-row insert
        # took ~420 ms instead of ~7 ms (and stalled the loop). From a file: ~30 ms.
        path = self.path / f"{_SPOOL}-{uuid.uuid4().hex}.arrow"
        try:
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, batch.schema) as out:
                out.write_table(batch)
            literal = str(path).replace("\\", "\\\\").replace("'", "\\'")
            self._query(f"INSERT INTO {self._qualified(table)} ({names}) SELECT * FROM "
                        f"file('{literal}', 'Arrow'){settings}", "CSV")
        finally:
            path.unlink(missing_ok=True)
        log.debug(
            "inserted %d rows into %s in %.1f ms",
            batch.num_rows,
            table.name,
            (time.perf_counter() - started) * 1000,
        )

    def _query(self, sql: str, fmt: str) -> bytes:
        try:
            result = self.connection.query(sql, fmt)
        except WarehouseNotStarted:
            raise
        except Exception as exc:  # chdb.ChdbError, or RuntimeError from the engine
            raise QueryFailed(str(exc).strip()) from exc
        return result.bytes()

    def _query_as_text(self, sql: str) -> QueryResult:
        import json

        text = self._query(sql, "JSONCompact").decode("utf-8", "replace")
        if not text.strip():
            return QueryResult()
        data = json.loads(text)
        return QueryResult(
            tuple(column["name"] for column in data["meta"]),
            [tuple(row) for row in data["data"]],
        )


def _arrow_type(column: Column, base_type: str | None = None) -> pa.DataType:
    base_type = base_type or column.base_type
    if match := _ARRAY.fullmatch(base_type):
        return pa.list_(_arrow_type(column, match[1]))
    if column.kind == "bool":
        return pa.bool_()  # pyarrow will not build uint8 from bools; ClickHouse casts
    if column.kind == "bytes":
        return pa.binary()  # raw bytes need not be UTF-8
    try:
        return _ARROW_SCALARS[base_type]
    except KeyError:
        raise TypeError(f"no Arrow type for {column.name} {base_type}") from None
