"""`aiqleads bench pipeline` refuses to start, saying why, when a service it needs is missing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from infra.cli import main
from infra.demo.bench import BenchConfig, unreachable
from infra.settings import Settings
from infra.stack.ports import free_port
from tests.integration.harness import topics_named

pytestmark = pytest.mark.integration


def test_the_running_stack_has_everything_the_bench_needs(server_url: str) -> None:
    assert unreachable(Settings(), BenchConfig(server_url=server_url)) == []


def test_a_missing_server_stops_the_bench_before_it_runs() -> None:
    settings = Settings()
    runs = set(topics_named(settings.kafka_bootstrap, lambda name: name.startswith("bq")))
    nowhere = f"clickhouse://default:@127.0.0.1:{free_port()}/aiqleads"
    result = CliRunner().invoke(main, ["bench", "pipeline", "--server-url", nowhere])
    assert result.exit_code == 1, result.output
    assert "ClickHouse server" in result.output
    assert "--backend chdb" in result.output
    # Nothing ran: no run's topics appeared (each run creates its own under "bq…").
    assert set(topics_named(settings.kafka_bootstrap, lambda name: name.startswith("bq"))) == runs


def test_the_embedded_backend_alone_does_not_need_a_server() -> None:
    nowhere = f"clickhouse://default:@127.0.0.1:{free_port()}/aiqleads"
    assert unreachable(Settings(), BenchConfig(backends=("chdb",), server_url=nowhere)) == []


def test_a_missing_redis_is_named() -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    problems = unreachable(settings, BenchConfig(backends=("chdb",)))
    assert len(problems) == 1 and problems[0].startswith("Redis:"), problems
