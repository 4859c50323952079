"""The ClickHouse warehouse, two backends and one schema (DESIGN decision 5).

- `open_warehouse(settings)` picks the backend from `AIQ_CLICKHOUSE_URL`:
  `clickhouse://user:pass@host:9000/db` → `ServerWarehouse` (clickhouse-driver, native
  protocol, works down to the 18.16 server), `chdb://<path>` → `EmbeddedWarehouse` (chdb,
  one process per path).
- Both keep the `Warehouse` contract (`base.py`): `start()`, columnar `insert_*` batches,
  `query(sql) -> QueryResult`, `close()`. The DDL is `schemas.ddl`; the column builders are
  `columns.py`, shared by both backends.
- `query.run_query(settings, sql)` is what `aiqleads sql` calls; with chdb it asks the
  running worker first, because the worker owns the embedded database.
"""

from __future__ import annotations

from infra.warehouse.base import Warehouse
from infra.warehouse.errors import (
    QueryFailed,
    WarehouseError,
    WarehouseNotStarted,
    WarehouseUnavailable,
)
from infra.warehouse.factory import open_warehouse, warehouse_for_url
from infra.warehouse.result import QueryResult, result_from_json, result_to_json

__all__ = [
    "QueryFailed",
    "QueryResult",
    "Warehouse",
    "WarehouseError",
    "WarehouseNotStarted",
    "WarehouseUnavailable",
    "open_warehouse",
    "result_from_json",
    "result_to_json",
    "warehouse_for_url",
]
