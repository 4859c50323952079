"""`run_query(settings, sql)`: one statement against whichever warehouse the settings name.

- Server URL: query the server directly.
- chdb URL: the embedded database belongs to the running worker (chdb is single-process),
  so POST the SQL to the worker's view, http://{worker_web_host}:{worker_web_port}/warehouse/sql
  (body: the SQL; answer: the wire shape of `infra.warehouse.result`). Only when nothing
  listens there is the chdb path opened here, for the length of the query.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from infra.settings import Settings
from infra.warehouse.errors import WarehouseError
from infra.warehouse.factory import open_warehouse
from infra.warehouse.result import QueryResult, result_from_json, result_to_json
from infra.warehouse.url import parse_url

__all__ = ["WORKER_VIEW", "result_from_json", "result_to_json", "run_query", "worker_query_url"]

log = logging.getLogger(__name__)

WORKER_VIEW = "/warehouse/sql"


def worker_query_url(settings: Settings) -> str:
    return f"http://{settings.worker_web_host}:{settings.worker_web_port}{WORKER_VIEW}"


def run_query(settings: Settings, sql: str, *, timeout: float = 300.0) -> QueryResult:
    """Run `sql` and return its result; raises `WarehouseError` (or `QueryFailed`)."""
    if isinstance(parse_url(settings.clickhouse_url), Path):
        result = _query_worker(settings, sql, timeout)
        if result is not None:
            return result
        log.debug(
            "no worker at %s; opening the embedded warehouse here", worker_query_url(settings)
        )
    with open_warehouse(settings) as warehouse:
        return warehouse.query(sql)


def _query_worker(settings: Settings, sql: str, timeout: float) -> QueryResult | None:
    """The worker's answer, or None when no worker listens."""
    url = worker_query_url(settings)
    try:
        response = httpx.post(
            url,
            content=sql.encode(),
            headers={"content-type": "text/plain; charset=utf-8"},
            timeout=httpx.Timeout(timeout, connect=2.0),
        )
    except httpx.ConnectError:
        return None
    except httpx.HTTPError as exc:
        raise WarehouseError(f"worker at {url}: {exc}") from exc
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and ("error" in data or "columns" in data):
        return result_from_json(data)  # raises QueryFailed for {"error": ...}
    # Something answers that is not our view: it may well own the chdb path, so never
    # open the path behind its back.
    raise WarehouseError(
        f"{url} answered HTTP {response.status_code} without a query result; "
        "is it an aiqleads worker with the /warehouse/sql view?"
    )
