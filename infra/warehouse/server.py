"""The ClickHouse server backend: clickhouse-driver over the native protocol, columnar inserts.

Notes that shaped it:
- 18.16 speaks protocol revision 54412, older than settings-as-strings (54429): the driver
  can send only settings it knows a binary type for, and silently skips (with a warning)
  the rest. That is why `insert_deduplication_token` is passed only when the server
  version supports it, never "just in case".
- The database must exist before a client can name it as its default, so `start()` uses a
  bootstrap client for the DDL, then the working client whose default is `database`.
- DateTime('UTC') columns take epoch seconds (ints skip the driver's timezone arithmetic)
  and come back as aware UTC datetimes whatever the server's own timezone.
- Strings come back as str, or as bytes when not valid UTF-8 (the driver's fallback), so a
  dead letter's raw bytes survive exactly.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.errors import NetworkError, ServerException, SocketTimeoutError

from infra.warehouse.base import Warehouse
from infra.warehouse.errors import QueryFailed, WarehouseNotStarted, WarehouseUnavailable
from infra.warehouse.result import QueryResult, normalise
from schemas.ddl import DATABASE, Table, quote

log = logging.getLogger(__name__)

CLIENT_NAME = "aiqleads"


class ServerWarehouse(Warehouse):
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 9000,
        user: str = "default",
        password: str = "",
        database: str = DATABASE,
        connect_timeout: float = 5.0,
        send_receive_timeout: float = 300.0,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.connect_timeout = connect_timeout
        self.send_receive_timeout = send_receive_timeout
        self._client: Client | None = None

    def describe(self) -> str:
        return f"clickhouse://{self.user}@{self.host}:{self.port}/{self.database}"

    def query(self, sql: str) -> QueryResult:
        rows, column_types = self._run(self.client, sql, with_column_types=True)
        return QueryResult(
            tuple(name for name, _ in column_types),
            [tuple(normalise(value) for value in row) for row in rows],
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client = None

    @property
    def client(self) -> Client:
        if self._client is None:
            raise WarehouseNotStarted(f"{self.describe()} not started")
        return self._client

    def _new_client(self, database: str) -> Client:
        return Client(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            client_name=CLIENT_NAME,
            connect_timeout=self.connect_timeout,
            send_receive_timeout=self.send_receive_timeout,
        )

    def _connect(self) -> None:
        self.close()
        # "default" always exists; ours may not yet. The driver connects on first use.
        self._client = self._new_client("default")

    def _use_database(self) -> None:
        bootstrap = self.client
        self._client = self._new_client(self.database)
        bootstrap.disconnect()

    def _execute(self, statement: str) -> None:
        self._run(self.client, statement)

    def _insert_columns(self, table: Table, columns: list[list[Any]], token: str | None) -> None:
        names = ", ".join(quote(name) for name in table.column_names)
        started = time.perf_counter()
        self._run(
            self.client,
            f"INSERT INTO {self._qualified(table)} ({names}) VALUES",
            columns,
            columnar=True,
            settings={"insert_deduplication_token": token} if token else None,
        )
        log.debug(
            "inserted %d rows into %s in %.1f ms",
            len(columns[0]),
            table.name,
            (time.perf_counter() - started) * 1000,
        )

    def _run(self, client: Client, sql: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return client.execute(sql, *args, **kwargs)
        except ServerException as exc:
            raise QueryFailed(f"Code: {exc.code}. {_first_line(exc.message)}") from exc
        except (NetworkError, SocketTimeoutError, OSError, EOFError) as exc:
            raise WarehouseUnavailable(f"{self.describe()}: {exc}") from exc


def _first_line(message: str) -> str:
    # 18.16 appends a full C++ stack trace to every server exception.
    return message.split("Stack trace:", 1)[0].strip().rstrip(".") + "."
