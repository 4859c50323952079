"""The local stack (`infra.stack`) against the services `make test` started.

Service tests read the same settings as `make test` (AIQ_STATE_DIR, AIQ_TEST_CLICKHOUSE_URL).
They skip when no stack runs, except under `make test` (AIQ_TEST_CLICKHOUSE_URL set), where a
missing service is a failure. They never stop the shared services; life-cycle tests start
their own Redis and ClickHouse on free ports under a tmp state dir.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from infra.settings import Settings
from infra.stack import ServiceStartError, status, up
from infra.stack import ports as stack_ports
from infra.stack import process as stack_process
from infra.stack.clickhouse import ClickHouseService, ClickHouseTarget
from infra.stack.kafka import KafkaService, new_cluster_id, split_bootstrap
from infra.stack.ports import free_port
from infra.stack.redis import RedisService
from infra.stack.stripe_mock import StripeMockService

SERVER_URL_ENV = "AIQ_TEST_CLICKHOUSE_URL"
DEFAULT_SERVER_URL = "clickhouse://default:@127.0.0.1:9000/aiqleads"
UNDER_MAKE_TEST = SERVER_URL_ENV in os.environ

integration = pytest.mark.integration


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(clickhouse_url=os.environ.get(SERVER_URL_ENV, DEFAULT_SERVER_URL))


@pytest.fixture(scope="module")
def stack(settings: Settings) -> Settings:
    """The settings of a running stack; skips (fails under `make test`) when it is not up."""
    down = [s for s in status(settings) if not s.running]
    if down:
        message = "stack not running: " + "; ".join(f"{s.name}: {s.detail}" for s in down)
        if UNDER_MAKE_TEST:
            pytest.fail(message)
        pytest.fail(f"{message} (run `make test`, or `aiqleads up` with a clickhouse:// URL)")
    return settings


@pytest.fixture
def topic() -> str:
    return f"test-stack-{uuid.uuid4().hex[:10]}"


# --- The running services -------------------------------------------------------------------


@integration
def test_kafka_answers_metadata_and_auto_creates_with_four_partitions(
    stack: Settings, topic: str
) -> None:
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    assert admin.list_topics(timeout=10).brokers

    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})
    producer.produce(topic, b"hello")
    assert producer.flush(15) == 0

    created = admin.list_topics(topic, timeout=10).topics[topic]
    assert created.error is None
    assert len(created.partitions) == 4


@integration
async def test_kafka_round_trip_through_aiokafka(stack: Settings, topic: str) -> None:
    # Faust's transport: guards against Kafka 4.x dropping a protocol version it still uses.
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=str(i).encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while len(received) < 10 and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            received += [m.value for messages in batches.values() for m in messages if m.value]
        await consumer.commit()
    finally:
        await consumer.stop()
    assert sorted(received) == sorted(f"m{i}".encode() for i in range(10))


@integration
def test_redis_answers_ping(stack: Settings) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    try:
        assert client.ping() is True
    finally:
        client.close()


@integration
def test_clickhouse_server_answers_and_has_the_database(stack: Settings) -> None:
    service = ClickHouseService(stack)
    client = service.client()
    try:
        assert client.execute("SELECT 1") == [(1,)]
        databases = {row[0] for row in client.execute("SHOW DATABASES")}
    finally:
        client.disconnect()
    assert re.match(r"\d+\.\d+", service.version())
    assert ClickHouseTarget.parse(stack.clickhouse_url).database in databases


@integration
def test_status_reports_every_service_running(stack: Settings) -> None:
    found = {s.name: s for s in status(stack)}
    assert set(found) == {"kafka", "redis", "clickhouse", "stripe-mock"}
    assert all(s.running for s in found.values()), found
    assert "version" in found["clickhouse"].detail


@integration
def test_up_again_is_quick_and_keeps_the_same_processes(stack: Settings) -> None:
    services = [KafkaService(stack), RedisService(stack), ClickHouseService(stack),
                StripeMockService(stack)]
    before = [s.running_pid() for s in services]
    began = time.monotonic()
    up(stack)
    assert time.monotonic() - began < 15
    assert [s.running_pid() for s in services] == before


@integration
def test_a_service_found_running_is_used_and_not_stopped(stack: Settings, tmp_path: Path) -> None:
    # Same ports, another state dir: the shared Redis is not ours there, so stop leaves it.
    elsewhere = stack.model_copy(update={"state_dir": tmp_path})
    service = RedisService(elsewhere)
    assert service.start() is None
    assert service.stop() is False
    assert RedisService(stack).answers()


# --- Life cycle on private ports ------------------------------------------------------------


@pytest.fixture
def private_settings(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(
        state_dir=tmp_path / "state",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        clickhouse_url=f"clickhouse://default:@127.0.0.1:{free_port(pair=True)}/lifecycle",
        kafka_bootstrap=f"127.0.0.1:{free_port(pair=True)}",
    )
    yield settings
    for service in (RedisService(settings), ClickHouseService(settings)):
        service.stop()


def test_redis_starts_answers_and_stops(private_settings: Settings) -> None:
    service = RedisService(private_settings)
    service.check_prerequisites()
    pid = service.start()
    assert pid is not None
    service.wait_ready(pid)
    assert service.start() == pid  # second start: same process
    assert service.status().running
    assert service.stop() is True
    assert not stack_process.is_alive(pid)
    assert not service.pid_file.exists()
    assert not service.answers()


def test_clickhouse_starts_with_its_database_and_stops(private_settings: Settings) -> None:
    service = ClickHouseService(private_settings)
    pid = service.start()
    assert pid is not None
    service.wait_ready(pid)
    client = service.client(database="lifecycle")
    try:
        assert client.execute("SELECT currentDatabase()") == [("lifecycle",)]
    finally:
        client.disconnect()
    assert service.stop() is True
    assert not stack_process.is_alive(pid)


def test_a_port_taken_by_something_else_is_an_error(private_settings: Settings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", RedisService(private_settings).port))
        squatter.listen()
        with pytest.raises(ServiceStartError, match="in use"):
            RedisService(private_settings).start()


# --- Processes and pid files ----------------------------------------------------------------


def test_stop_terminates_a_spawned_process_and_clears_its_pid_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    marker = f"import time; time.sleep(300)  # {uuid.uuid4().hex}"
    pid = stack_process.spawn(
        [sys.executable, "-c", marker], log_file=tmp_path / "sleeper.log", pid_file=pid_file
    )
    assert stack_process.running_pid(pid_file, marker) == pid
    assert stack_process.stop(pid_file, marker, what="sleeper", timeout=5) is True
    assert not stack_process.is_alive(pid)
    assert not pid_file.exists()


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    pid_file = tmp_path / "stubborn.pid"
    marker = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    pid = stack_process.spawn(
        [sys.executable, "-c", marker], log_file=tmp_path / "stubborn.log", pid_file=pid_file
    )
    time.sleep(0.5)  # let it install the handler
    assert stack_process.stop(pid_file, marker, what="stubborn", timeout=1) is True
    assert not stack_process.is_alive(pid)


def test_a_pid_file_naming_another_program_is_stale(tmp_path: Path) -> None:
    pid_file = tmp_path / "recycled.pid"
    with subprocess.Popen(["sleep", "30"]) as other:
        pid_file.write_text(f"{other.pid}\n")
        assert stack_process.running_pid(pid_file, "redis-server") is None
        assert not pid_file.exists()
        assert stack_process.stop(pid_file, "redis-server", what="x", timeout=1) is False
        assert other.poll() is None  # never signalled
        other.kill()


def test_wait_until_fails_fast_with_the_log_tail_when_the_process_dies(tmp_path: Path) -> None:
    log_file = tmp_path / "dies.log"
    pid = stack_process.spawn(
        [sys.executable, "-c", "print('boom: bad config'); raise SystemExit(3)"],
        log_file=log_file,
        pid_file=tmp_path / "dies.pid",
    )
    with pytest.raises(ServiceStartError, match=r"exited during startup(?s:.*)boom: bad config"):
        stack_process.wait_until(lambda: False, what="dies", timeout=30, pid=pid, log_file=log_file)


# --- Pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_address", "address", "serves_loopback"),
    [
        ("0100007F", "127.0.0.1", True),
        ("00000000", "0.0.0.0", True),
        ("0500000A", "10.0.0.5", False),
        ("0000000000000000FFFF00000100007F", "::ffff:127.0.0.1", True),
        ("00000000000000000000000001000000", "::1", True),
        ("00000000000000000000000000000000", "::", True),
    ],
)
def test_proc_net_tcp_addresses(hex_address: str, address: str, serves_loopback: bool) -> None:
    decoded = stack_ports._decode_address(hex_address)
    assert decoded == ipaddress.ip_address(address)
    assert stack_ports._serves_loopback(decoded) is serves_loopback


def test_port_open_sees_a_listener_without_connecting() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        assert not stack_ports.port_open("localhost", port)
        listener.listen()
        assert stack_ports.port_open("localhost", port)
        assert stack_ports.port_open("127.0.0.1", port)


def test_free_ports_come_from_below_the_ephemeral_range_and_skip_taken_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert all(free_port(pair=True) + 1 < low for _ in range(50))
    first, second, third = (free_port(pair=True) for _ in range(3))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", second + 1))  # bound, not listening: only a bind sees it
        draws = iter([first, second, third])
        monkeypatch.setattr(stack_ports.random, "randint", lambda *_: next(draws))
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", first))
            listener.listen()
            assert free_port(pair=True) == third


@pytest.mark.parametrize(
    ("bootstrap", "expected"),
    [
        ("localhost:9092", ("localhost", 9092)),
        ("127.0.0.1:19092,other:9092", ("127.0.0.1", 19092)),
        ("kafka", ("kafka", 9092)),
        ("[::1]:9092", ("::1", 9092)),
    ],
)
def test_split_bootstrap(bootstrap: str, expected: tuple[str, int]) -> None:
    assert split_bootstrap(bootstrap) == expected


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)


def test_clickhouse_url_parts() -> None:
    target = ClickHouseTarget.parse("clickhouse://reader:s%3Acret@db.local:9440/sales")
    assert target == ClickHouseTarget("db.local", 9440, "reader", "s:cret", "sales")
    assert ClickHouseTarget.parse("clickhouse://localhost").port == 9000
    with pytest.raises(ValueError, match="not a ClickHouse server URL"):
        ClickHouseTarget.parse("chdb://.aiqleads/warehouse")


def test_rendered_configs_have_no_placeholders_left(private_settings: Settings) -> None:
    kafka = KafkaService(private_settings)
    kafka._write_config()
    clickhouse = ClickHouseService(private_settings)
    clickhouse._write_config()
    for path in (kafka.config_file, clickhouse.config_file, clickhouse.home / "users.xml"):
        assert "${" not in path.read_text(), path
    properties = kafka.config_file.read_text()
    assert f"listeners=PLAINTEXT://127.0.0.1:{kafka.port}," in properties
    assert f"CONTROLLER://127.0.0.1:{kafka.port + 1}" in properties
