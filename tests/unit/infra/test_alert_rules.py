"""The Prometheus alert rules: valid (`promtool check rules`), firing when they should
(`promtool test rules`), and naming only metrics the worker exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import infra.metrics  # noqa: F401  (registers the metrics)

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "infra" / "deploy" / "prometheus" / "rules.yml"
RULE_TESTS = Path(__file__).parent / "data" / "alert_rules_test.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: it comes with Debian's `prometheus` package (make deps)")
    return path


@pytest.mark.parametrize(("command", "target"), [("check", RULES), ("test", RULE_TESTS)])
def test_promtool(command: str, target: Path) -> None:
    result = subprocess.run([_promtool(), command, "rules", str(target)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_name_only_exported_metrics() -> None:
    exported = {
        sample.name.removesuffix("_total")
        for metric in REGISTRY.collect()
        for sample in metric.samples
    } | {metric.name for metric in REGISTRY.collect()}
    used = set(re.findall(r"\b(aiq_[a-z_]+)", RULES.read_text()))
    assert used, "no aiq_ metrics in the rules?"
    missing = {name for name in used if name.removesuffix("_total") not in exported
               and re.sub(r"_(bucket|sum|count)$", "", name) not in exported}
    assert not missing, f"rules use metrics the worker does not export: {sorted(missing)}"


def test_every_alert_has_a_runbook_entry() -> None:
    alerts = re.findall(r"^\s+- alert: (\w+)", RULES.read_text(), flags=re.MULTILINE)
    headings = set(re.findall(r"^## (\w+)", RUNBOOKS.read_text(), flags=re.MULTILINE))
    assert alerts
    assert not set(alerts) - headings, f"alerts without a runbook: {set(alerts) - headings}"


def test_local_prometheus_config_is_valid() -> None:
    config = ROOT / "infra" / "deploy" / "prometheus" / "prometheus.local.yml"
    result = subprocess.run([_promtool(), "check", "config", str(config)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
