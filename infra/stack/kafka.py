"""Apache Kafka in KRaft mode: one node per address in AIQ_KAFKA_BOOTSTRAP (each node is
broker and controller in one JVM; `aiqleads up --brokers 3` makes a three-node cluster).

Node N's storage lives in `<state_dir>/kafka/data` (N = 1) or `<state_dir>/kafka-N/data`,
formatted once with the cluster id kept in `<state_dir>/kafka/cluster.id`; each node's
controller listens on its broker port + 1. With three or more nodes topics get three
replicas and `min.insync.replicas=2`.
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from pathlib import Path
from string import Template

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from infra.settings import Settings
from infra.stack import ports, process
from infra.stack.jars import KAFKA_CONFIG_DIR, ensure_kafka_jars, kafka_jars_ready
from infra.stack.managed import ManagedService
from infra.stack.service import MissingPrerequisiteError, ServiceStartError

logger = logging.getLogger(__name__)

SERVER_PROPERTIES = KAFKA_CONFIG_DIR / "server.properties"
LOG4J2_PROPERTIES = KAFKA_CONFIG_DIR / "log4j2.properties"

JVM_OPTIONS: tuple[str, ...] = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


def split_bootstrap(bootstrap: str) -> tuple[str, int]:
    """The first host and port of a bootstrap list.

    >>> split_bootstrap("localhost:9092,other:9092")
    ('localhost', 9092)
    """
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host:
        return first, 9092
    return host.strip("[]"), int(port)


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """Every host and port of a bootstrap list.

    >>> bootstrap_addresses("127.0.0.1:9092,127.0.0.1:9094")
    [('127.0.0.1', 9092), ('127.0.0.1', 9094)]
    """
    return [split_bootstrap(part) for part in bootstrap.split(",") if part.strip()]


def cluster_bootstrap(bootstrap: str, brokers: int) -> str:
    """The bootstrap list of a local `brokers`-node cluster grown from the first address:
    node N on port + 2(N - 1) (each node's controller takes the port after its own).

    >>> cluster_bootstrap("localhost:9092", 3)
    'localhost:9092,localhost:9094,localhost:9096'
    """
    host, port = split_bootstrap(bootstrap)
    return ",".join(f"{host}:{port + 2 * i}" for i in range(brokers))


def replication_for(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of `brokers` nodes."""
    return (3, 2) if brokers >= 3 else (1, 1)


def new_cluster_id() -> str:
    """A random cluster id in Kafka's format (URL-safe base64 of 16 bytes, never leading '-')."""
    while True:
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not encoded.startswith("-"):
            return encoded


class KafkaService(ManagedService):
    name = "kafka"
    start_timeout = 120.0  # a cold JVM on two busy cores
    stop_timeout = 30.0  # controlled shutdown flushes and closes every partition

    def __init__(self, settings: Settings, node: int = 1) -> None:
        super().__init__(settings)
        self.node = node
        self.name = "kafka" if node == 1 else f"kafka-{node}"

    @classmethod
    def cluster(cls, settings: Settings) -> list[KafkaService]:
        """One service per node named in the bootstrap list."""
        count = len(bootstrap_addresses(settings.kafka_bootstrap))
        return [cls(settings, node) for node in range(1, count + 1)]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return bootstrap_addresses(self.settings.kafka_bootstrap)

    @property
    def host(self) -> str:
        return self.addresses[self.node - 1][0]

    @property
    def port(self) -> int:
        return self.addresses[self.node - 1][1]

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def home(self) -> Path:
        return self.paths.service_dir(self.name)

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def marker(self) -> str:
        return str(self.config_file)

    def check_prerequisites(self) -> None:
        if not ports.is_loopback(self.host):
            return
        if shutil.which("java") is None:
            raise MissingPrerequisiteError(
                "Kafka needs Java 17+: `apt-get install openjdk-17-jre-headless`"
            )
        if not kafka_jars_ready() and shutil.which("mvn") is None:
            raise MissingPrerequisiteError(
                "Kafka's jars are not cached and Maven is missing: `apt-get install maven`, "
                "then `make deps`"
            )

    def answers(self) -> bool:
        if not ports.port_open(self.host, self.port):
            return False
        admin = AdminClient(
            {
                "bootstrap.servers": f"{self.host}:{self.port}",
                "socket.connection.setup.timeout.ms": 2000,
                "log_level": 0,  # a broker still booting is expected here, not worth a log line
            }
        )
        try:
            metadata = admin.list_topics(timeout=3)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def launch(self) -> int:
        java = shutil.which("java")
        if java is None:  # checked in check_prerequisites; PATH may have changed since
            raise MissingPrerequisiteError("java not found on PATH")
        if ports.port_open(self.host, self.controller_port):
            raise ServiceStartError(
                f"kafka: the controller port {self.controller_port} (broker port + 1) is in use"
            )
        classpath = f"{ensure_kafka_jars()}/*"
        self._write_config()
        self._format_storage(java, classpath)
        return process.spawn(
            [
                java,
                *JVM_OPTIONS,
                f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(self.config_file),
            ],
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.home,
        )

    def _write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        host = ports.bind_host(self.host)
        voters = ",".join(f"{node}@{ports.bind_host(h)}:{p + 1}"
                          for node, (h, p) in enumerate(self.addresses, 1))
        replication, min_isr = replication_for(len(self.addresses))
        rendered = Template(SERVER_PROPERTIES.read_text()).substitute(
            host=host,
            port=self.port,
            controller_port=self.controller_port,
            log_dirs=self.data_dir,
            node_id=self.node,
            voters=voters,
            replication=replication,
            min_isr=min_isr,
        )
        self.config_file.write_text(rendered)

    def _cluster_id(self) -> str:
        # One id for every node of the cluster, kept beside node 1's storage.
        id_file = self.paths.service_dir("kafka") / "cluster.id"
        id_file.parent.mkdir(parents=True, exist_ok=True)
        if id_file.exists():
            return id_file.read_text().strip()
        cluster_id = new_cluster_id()
        id_file.write_text(f"{cluster_id}\n")
        return cluster_id

    def _format_storage(self, java: str, classpath: str) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = self._cluster_id()
        logger.info("formatting Kafka storage in %s (cluster id %s)", self.data_dir, cluster_id)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            result = subprocess.run(
                [
                    java,
                    "-Xmx256m",
                    f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES}",
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    cluster_id,
                    "--config",
                    str(self.config_file),
                    "--ignore-formatted",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            raise ServiceStartError(
                f"formatting Kafka storage failed (exit {result.returncode})"
                f"{process.log_tail(self.log_file)}"
            )
