"""Warehouse URLs: `clickhouse://user:pass@host:9000/db` (server, native protocol) or
`chdb://<path>` (embedded; `chdb://.aiqleads/warehouse` is relative, `chdb:///abs/path`
absolute)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from infra.warehouse.errors import WarehouseError
from schemas.ddl import DATABASE

SERVER_SCHEME = "clickhouse"
EMBEDDED_SCHEME = "chdb"
DEFAULT_TCP_PORT = 9000


@dataclass(frozen=True, slots=True)
class ServerUrl:
    host: str
    port: int
    user: str
    password: str
    database: str


def parse_url(url: str) -> ServerUrl | Path:
    """A server URL's parts, or the embedded warehouse's directory.

    >>> parse_url("clickhouse://default:@127.0.0.1:9000/aiqleads")
    ServerUrl(host='127.0.0.1', port=9000, user='default', password='', database='aiqleads')
    >>> parse_url("chdb://.aiqleads/warehouse")
    PosixPath('.aiqleads/warehouse')
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise WarehouseError(f"not a warehouse URL (clickhouse://… or chdb://…): {url!r}")
    if scheme == EMBEDDED_SCHEME:
        if not rest:
            raise WarehouseError(f"chdb URL without a path: {url!r}")
        return Path(rest)
    if scheme == SERVER_SCHEME:
        parts = urlsplit(url)
        return ServerUrl(
            host=parts.hostname or "localhost",
            port=parts.port or DEFAULT_TCP_PORT,
            user=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=parts.path.strip("/") or DATABASE,
        )
    raise WarehouseError(f"unknown warehouse scheme {scheme!r} in {url!r}")
