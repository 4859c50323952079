"""Operators' view of a running system: a real worker and API (with `AIQ_OPS_TOKEN`) under
traffic, `/ops` in Debian's headless Chromium (login form, live numbers, hexagons,
a screenshot kept), and a real Prometheus scraping both and firing an alert rule."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from infra.settings import Settings
from infra.warehouse.query import run_query
from infra.warehouse.url import ServerUrl, parse_url
from streams.traffic.generator import generate
from tests.integration.harness import WorkerProcess, free_port, produce, settings_env, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra" / "deploy" / "prometheus" / "rules.yml"
TOKEN = "test-ops-token"
#: Screenshots of /ops are kept here (CI artefacts); override with AIQ_TEST_ARTEFACTS.
ARTEFACTS = Path(os.environ.get("AIQ_TEST_ARTEFACTS", ROOT / ".aiqleads" / "test-artefacts"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


@dataclass
class Stack:
    settings: Settings
    worker: WorkerProcess
    api: subprocess.Popen[bytes]
    api_url: str
    traffic: threading.Thread


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, server_url: str) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("ops")
    run = uuid.uuid4().hex[:10]
    target = parse_url(server_url)
    assert isinstance(target, ServerUrl)
    settings = Settings(
        clickhouse_url=(f"clickhouse://{target.user}:{target.password}@{target.host}:"
                        f"{target.port}/aiqleads_t{run}"),
        state_dir=tmp / "state", topic_prefix=f"t{run}.", worker_web_port=free_port(),
        api_port=free_port(), land_batch_seconds=0.2,
    )
    worker = WorkerProcess(settings, tmp / "worker.log")
    worker.start(timeout=120)
    env = {**os.environ, **settings_env(settings), "AIQ_API_PORT": str(settings.api_port),
           "AIQ_OPS_TOKEN": TOKEN, "AIQ_OPS_POLL_SECONDS": "1", "AIQ_OPS_MAP_SECONDS": "2",
           "AIQ_OPS_LAG_WINDOW": "3"}
    api_log = (tmp / "api.log").open("ab")
    api = subprocess.Popen([sys.executable, "-m", "infra.cli", "api"], env=env, stdout=api_log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    api_url = f"http://127.0.0.1:{settings.api_port}"
    traffic = threading.Thread(target=produce, args=(settings, generate(3000, seed=5), 120.0),
                               daemon=True)
    try:
        assert wait_until(lambda: _ready(api_url), timeout=60), (tmp / "api.log").read_text()
        traffic.start()
        yield Stack(settings, worker, api, api_url, traffic)
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=30)
        worker.stop()
        run_query(settings.model_copy(update={"clickhouse_url": server_url}),
                  f"DROP DATABASE IF EXISTS aiqleads_t{run}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _ready(url: str) -> bool:
    return _answers(f"{url}/readyz")


def test_ops_routes_need_the_token(stack: Stack) -> None:
    lag = httpx.get(f"{stack.api_url}/v1/ops/lag", timeout=5)
    assert lag.status_code == 401
    assert lag.json()["code"] == "ops_token_required"
    page = httpx.get(f"{stack.api_url}/ops", timeout=5)
    assert page.status_code == 303 and page.headers["location"] == "/ops/login"
    assert httpx.get(f"{stack.api_url}/metrics", timeout=5).status_code == 401
    authorised = httpx.get(f"{stack.api_url}/v1/ops/lag", timeout=5,
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert authorised.status_code == 200


def test_ops_page_shows_live_numbers_and_hexagons(stack: Stack) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (make deps)"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1300})
            page.goto(f"{stack.api_url}/ops")
            assert page.url.endswith("/ops/login")
            page.fill("input[name=token]", TOKEN)
            page.click("button")
            page.wait_for_url(f"{stack.api_url}/ops")
            # Live: the SSE stream delivered scored leads, lag rows and hexagons with leads.
            page.wait_for_function(
                """() => Number(document.getElementById('tp-scored').textContent) > 0
                     && document.querySelectorAll('#lag tbody tr').length > 4
                     && [...document.querySelectorAll('#map .hex')]
                          .some(h => h.getAttribute('fill') !== '#18222c')""",
                timeout=90_000,
            )
            first = int(page.get_attribute("#updated", "data-version") or 0)
            page.wait_for_function(
                f"Number(document.getElementById('updated').dataset.version) > {first}",
                timeout=30_000)
            page.click("input[value=mean_score]")
            assert page.locator("#legend").inner_text().startswith("mean score")
            page.click("input[value=leads]")
            page.screenshot(path=str(ARTEFACTS / "ops.png"), full_page=True)
            health = page.locator("#health span:has(i.up)").all_inner_texts()
            hexes = page.locator("#map .hex").count()
        finally:
            browser.close()
    assert sorted(health) == ["clickhouse", "kafka", "redis", "worker"]  # all up
    assert hexes > 10
    assert (ARTEFACTS / "ops.png").stat().st_size > 20_000


def test_prometheus_scrapes_worker_and_api_and_fires_a_rule(stack: Stack,
                                                            tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    assert prometheus, "Debian's prometheus package is needed (make deps)"
    # The real rules, with `for:` cut to zero so a test need not wait minutes.
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "token").write_text(TOKEN)
    config = {
        "global": {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "scrape_configs": [
            {"job_name": "aiqleads-worker", "static_configs": [
                {"targets": [f"127.0.0.1:{stack.settings.worker_web_port}"]}]},
            {"job_name": "aiqleads-api",
             "authorization": {"type": "Bearer", "credentials_file": str(tmp_path / "token")},
             "static_configs": [{"targets": [f"127.0.0.1:{stack.settings.api_port}"]}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("ab")
    server = subprocess.Popen(
        [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api/v1"

    def api(path: str, **params: str) -> dict[str, Any]:
        # Until its TSDB is open Prometheus answers 503 with a plain-text body: not an answer yet.
        try:
            response = httpx.get(f"{url}/{path}", params=params, timeout=5)
        except httpx.HTTPError:
            return {}
        return response.json().get("data", {}) if response.status_code == 200 else {}

    def query(expr: str) -> list[dict[str, object]]:
        return api("query", query=expr).get("result", [])

    def firing() -> set[str]:
        alerts = api("alerts").get("alerts", [])
        return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}

    try:
        assert wait_until(lambda: _answers(f"http://127.0.0.1:{port}/-/ready"), 60), \
            (tmp_path / "prometheus.log").read_text()[-3000:]
        group = f"{stack.settings.topic_prefix}{stack.settings.app_id}"
        assert wait_until(lambda: len(query('up{job=~"aiqleads-.*"} == 1')) == 2, 60), \
            (tmp_path / "prometheus.log").read_text()[-3000:]
        assert wait_until(lambda: bool(query("sum(aiq_leads_scored_total) > 0")), 60)
        assert wait_until(lambda: bool(query(
            f'aiq_consumer_group_lag_seconds{{job="aiqleads-api",group="{group}"}}')), 30)
        # Under load one scrape of the worker can time out (up == 0 for a second); what matters
        # is that the rule resolves once scrapes succeed, and fires once the worker is gone.
        assert wait_until(lambda: "WorkerDown" not in firing(), 60), firing()

        stack.worker.kill()
        assert wait_until(lambda: "WorkerDown" in firing(), 60), firing()
        # The API's lag monitor sees the group stop while traffic keeps arriving.
        stack.traffic.join(timeout=120)
        produce(stack.settings, generate(200, seed=6))
        assert wait_until(lambda: "ConsumerGroupStoppedOrStalled" in firing(), 90), firing()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
