"""`open_warehouse`: the backend a URL names, not yet started."""

from __future__ import annotations

from pathlib import Path

from infra.settings import Settings
from infra.warehouse.base import Warehouse
from infra.warehouse.url import parse_url


def warehouse_for_url(url: str) -> Warehouse:
    """The backend for a URL, not yet started."""
    target = parse_url(url)
    if isinstance(target, Path):
        from infra.warehouse.embedded import EmbeddedWarehouse

        return EmbeddedWarehouse(target)
    from infra.warehouse.server import ServerWarehouse

    return ServerWarehouse(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password,
        database=target.database,
    )


def open_warehouse(settings: Settings) -> Warehouse:
    """The warehouse `settings.clickhouse_url` names, not yet started (call `start()`)."""
    return warehouse_for_url(settings.clickhouse_url)
