"""A ClickHouse server, only when AIQ_CLICKHOUSE_URL is `clickhouse://user:pass@host:port/db`.

The default `chdb://` URL is the embedded engine and needs no service. The config is written
for Debian's clickhouse-server 18.16 (`<yandex>` root, `clickhouse-server --config-file=...`);
newer servers shipping a single `clickhouse` binary are run as `clickhouse server`.
Data lives in `<state_dir>/clickhouse`, the server's own logs in `<state_dir>/logs`.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from string import Template
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from infra.settings import Settings
from infra.stack import ports, process
from infra.stack.managed import ManagedService
from infra.stack.service import MissingPrerequisiteError, ServiceStartError, ServiceStatus

CONFIG_DIR = Path(__file__).resolve().parents[1] / "deploy" / "clickhouse"
SERVER_SCHEME = "clickhouse"
DEFAULT_TCP_PORT = 9000
DEFAULT_HTTP_PORT = 8123
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class ClickHouseTarget:
    """The parts of a `clickhouse://` URL."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def parse(cls, url: str) -> ClickHouseTarget:
        """Split a server URL.

        >>> ClickHouseTarget.parse("clickhouse://default:@127.0.0.1:9000/aiqleads").database
        'aiqleads'
        """
        parts = urlsplit(url)
        if parts.scheme != SERVER_SCHEME:
            raise ValueError(f"not a ClickHouse server URL: {url!r}")
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or DEFAULT_TCP_PORT,
            user=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=parts.path.strip("/") or "default",
        )


def uses_server(settings: Settings) -> bool:
    return settings.clickhouse_url.startswith(f"{SERVER_SCHEME}://")


def server_command() -> list[str] | None:
    """How to run the server binary installed here, or None when there is none."""
    extra = ("/usr/sbin", "/usr/bin", "/usr/local/bin")  # /usr/sbin is often off a user's PATH
    for name, args in (("clickhouse-server", []), ("clickhouse", ["server"])):
        found = shutil.which(name) or next(
            (f"{d}/{name}" for d in extra if Path(d, name).is_file()), None
        )
        if found:
            return [found, *args]
    return None


class ClickHouseService(ManagedService):
    name = "clickhouse"
    start_timeout = 60.0
    stop_timeout = 20.0

    @property
    def target(self) -> ClickHouseTarget:
        return ClickHouseTarget.parse(self.settings.clickhouse_url)

    @property
    def host(self) -> str:
        return self.target.host

    @property
    def port(self) -> int:
        return self.target.port

    @property
    def http_port(self) -> int:
        return DEFAULT_HTTP_PORT if self.port == DEFAULT_TCP_PORT else self.port + 1

    @property
    def home(self) -> Path:
        return self.paths.service_dir("clickhouse")

    @property
    def config_file(self) -> Path:
        return self.home / "config.xml"

    @property
    def marker(self) -> str:
        return str(self.config_file)

    @property
    def startup_log(self) -> Path:
        # The server writes its own log files; its stdout only says where they are.
        return self.paths.log_dir / "clickhouse-server.err.log"

    def check_prerequisites(self) -> None:
        target = self.target
        for label, value in (("user", target.user), ("database", target.database)):
            if not _NAME.match(value):
                raise ServiceStartError(f"ClickHouse {label} {value!r} is not a plain identifier")
        if ports.is_loopback(self.host) and server_command() is None:
            raise MissingPrerequisiteError(
                "no ClickHouse server binary: `apt-get install clickhouse-server`, "
                "or run `make deps`"
            )

    def client(self, database: str = "default") -> Client:
        target = self.target
        return Client(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            database=database,
            connect_timeout=2,
            send_receive_timeout=10,
            sync_request_timeout=5,
        )

    def version(self) -> str:
        client = self.client()
        try:
            return str(client.execute("SELECT version()")[0][0])
        finally:
            client.disconnect()

    def answers(self) -> bool:
        if not ports.port_open(self.host, self.port):
            return False
        client = self.client()
        try:
            return client.execute("SELECT 1") == [(1,)]
        except (ClickHouseError, OSError, EOFError):
            return False
        finally:
            client.disconnect()

    def after_ready(self) -> None:
        client = self.client()
        try:
            client.execute(f"CREATE DATABASE IF NOT EXISTS `{self.target.database}`")
        finally:
            client.disconnect()

    def launch(self) -> int:
        command = server_command()
        if command is None:
            raise MissingPrerequisiteError("no ClickHouse server binary on PATH")
        self._write_config()
        return process.spawn(
            [*command, f"--config-file={self.config_file}"],
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.home,
        )

    def status(self) -> ServiceStatus:
        found = super().status()
        if not found.running:
            return found
        try:
            version = self.version()
        except (ClickHouseError, OSError, EOFError):
            return found
        return ServiceStatus(found.name, True, f"{found.detail}, version {version}")

    def _write_config(self) -> None:
        dirs = {
            "data_dir": self.home / "data",
            "tmp_dir": self.home / "tmp",
            "user_files_dir": self.home / "user_files",
            "format_schema_dir": self.home / "format_schemas",
            "log_dir": self.paths.log_dir,
        }
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        config = Template((CONFIG_DIR / "config.xml").read_text()).substitute(
            {key: escape(str(path)) for key, path in dirs.items()},
            listen_host=ports.bind_host(self.host),
            tcp_port=self.port,
            http_port=self.http_port,
        )
        users = Template((CONFIG_DIR / "users.xml").read_text()).substitute(
            user=self.target.user,
            password=escape(self.target.password),
        )
        self.config_file.write_text(config)
        (self.home / "users.xml").write_text(users)


class EmbeddedClickHouse:
    """Stands in for the server in `status` when the warehouse is embedded chdb."""

    name = "clickhouse"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def status(self) -> ServiceStatus:
        return ServiceStatus(
            self.name, True, f"embedded chdb ({self.settings.clickhouse_url}), no server needed"
        )
