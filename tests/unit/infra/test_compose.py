"""docker-compose.yml agrees with the code: service names, ports, commands, `AIQ_*` variables,
mounted files, and the Prometheus targets and Grafana dashboard it provisions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from infra.cli import main
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"kafka", "redis", "clickhouse", "stripe-mock", "prometheus", "grafana",
            "worker", "api", "traffic", "buyers"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _port(url: str) -> int:
    port = urlparse(url if "://" in url else f"x://{url}").port
    assert port is not None, url
    return port


def _env_settings(compose: dict[str, Any]) -> Settings:
    env = compose["x-aiq-env"]
    fields = {name.removeprefix("AIQ_").lower(): value for name, value in env.items()}
    fields["ops_token"] = "t"  # interpolated from the shell at `docker compose up`
    return Settings(**fields)


def test_the_full_stack_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_every_variable_is_a_setting(compose: dict[str, Any]) -> None:
    names = set(compose["x-aiq-env"])
    for service in compose["services"].values():
        names |= {n for n in (service.get("environment") or {}) if n.startswith("AIQ_")}
    known = {f"AIQ_{name.upper()}" for name in Settings.model_fields}
    assert names, "no AIQ_ variables?"
    assert not names - known, f"not settings: {sorted(names - known)}"


def test_services_are_where_the_settings_point(compose: dict[str, Any]) -> None:
    settings = _env_settings(compose)
    services = compose["services"]
    assert settings.kafka_bootstrap == "kafka:9092"
    assert "PLAINTEXT://kafka:9092" in services["kafka"]["environment"][
        "KAFKA_ADVERTISED_LISTENERS"]
    assert urlparse(settings.redis_url).hostname == "redis"
    assert urlparse(settings.clickhouse_url).hostname == "clickhouse"
    assert urlparse(settings.stripe_api_base).hostname == "stripe-mock"
    published = {name: {int(p.split(":")[1]) for p in svc.get("ports", [])}
                 for name, svc in services.items()}
    assert _port(settings.kafka_bootstrap) in published["kafka"]
    assert _port(settings.redis_url) in published["redis"]
    assert _port(settings.clickhouse_url) in published["clickhouse"]
    assert _port(settings.stripe_api_base) in published["stripe-mock"]
    assert settings.worker_web_port in published["worker"]
    assert settings.api_port in published["api"]


def test_commands_are_cli_commands(compose: dict[str, Any]) -> None:
    for name in ("worker", "api", "traffic", "buyers"):
        command = compose["services"][name]["command"][0]
        assert command in main.commands, f"{name}: no `aiqleads {command}`"


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("./"):
                assert (ROOT / host).exists(), host


def test_prometheus_scrapes_the_worker_and_the_api_with_the_token(
        compose: dict[str, Any]) -> None:
    settings = _env_settings(compose)
    config = yaml.safe_load((ROOT / "infra/deploy/prometheus/prometheus.compose.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["aiqleads-worker"]["static_configs"][0]["targets"] == [
        f"worker:{settings.worker_web_port}"]
    assert jobs["aiqleads-api"]["static_configs"][0]["targets"] == [f"api:{settings.api_port}"]
    secret = jobs["aiqleads-api"]["authorization"]["credentials_file"]
    assert secret == "/run/secrets/ops_token"
    assert "ops_token" in compose["services"]["prometheus"]["secrets"]
    assert compose["secrets"]["ops_token"]["environment"] == "AIQ_OPS_TOKEN"


def test_grafana_dashboard_queries_exported_metrics() -> None:
    from prometheus_client import REGISTRY

    import infra.metrics  # noqa: F401  (registers the metrics)

    dashboard = json.loads((ROOT / "infra/deploy/grafana/dashboards/aiqleads.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exported = {sample.name for metric in REGISTRY.collect() for sample in metric.samples}
    exported |= {metric.name for metric in REGISTRY.collect()}
    used = {name for expr in exprs for name in re.findall(r"\b(aiq_[a-z_]+)", expr)}
    missing = {n for n in used
               if not {n, n.removesuffix("_total"), re.sub(r"_(bucket|sum|count)$", "", n)}
               & exported}
    assert not missing, missing
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("throughput", "lag", "latency", "dead letters", "model"):
        assert topic in titles
