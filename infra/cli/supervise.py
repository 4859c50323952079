"""`aiqleads run`: services, worker, API and demo traffic together; Ctrl-C stops it all."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx

from infra.settings import Settings
from infra.stack import down, up
from streams.traffic.generator import DEMO_DUPLICATE_SHARE, DEMO_FRAUD_SHARE

log = logging.getLogger(__name__)


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = log_path.open("ab")
    # Own process group: the terminal's Ctrl-C reaches us once, and we stop children in order.
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def _stop(procs: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for name, proc in reversed(procs):
        if proc.poll() is None:
            log.info("stopping %s", name)
            proc.send_signal(signal.SIGTERM)
    for name, proc in reversed(procs):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", name)
            proc.kill()


def run_all(settings: Settings, *, rate: float, traffic: bool) -> None:
    up(settings)
    logs = settings.state_dir / "logs"
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        worker = _spawn(["worker"], logs / "worker.log")
        procs.append(("worker", worker))
        worker_url = f"http://{settings.worker_web_host}:{settings.worker_web_port}"
        if not _wait_http(f"{worker_url}/healthz", 90, worker):
            raise click.ClickException(f"worker did not start; see {logs / 'worker.log'}")
        api = _spawn(["api"], logs / "api.log")
        procs.append(("api", api))
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        if not _wait_http(f"{api_url}/healthz", 30, api):
            raise click.ClickException(f"API did not start; see {logs / 'api.log'}")
        if traffic:
            seed = str(int(time.time()))
            # Buyers first: they start at the latest offset and would miss the first leads.
            procs.append(("buyers", _spawn(["buyers", "--seed", seed], logs / "buyers.log")))
            args = ["produce", "--rate", str(rate), "--count", str(10**9),
                    "--fraud", str(DEMO_FRAUD_SHARE), "--duplicates", str(DEMO_DUPLICATE_SHARE),
                    "--seed", seed]
            procs.append(("traffic", _spawn(args, logs / "traffic.log")))
        demo = (f"  demo traffic    {rate:g} leads/s, and simulated buyers acting on them at "
                "60x speed (traffic.log, buyers.log)\n" if traffic else "")
        click.echo(
            "\nAIQLeads Stream is running.\n"
            f"  API docs        {api_url}/docs\n"
            f"  operations      {api_url}/ops  (lag: .venv/bin/aiqleads lag)\n"
            f"  API metrics     {api_url}/metrics\n"
            f"  worker metrics  {worker_url}/metrics\n"
            f"  logs            {logs}/\n"
            f"{demo}"
            '  query           .venv/bin/aiqleads sql "SELECT source, count(), avg(score) '
            'FROM leads FINAL GROUP BY source"\n'
            "Ctrl-C stops everything.\n"
        )
        while all(proc.poll() is None for _, proc in procs):
            time.sleep(1)
        failed = [name for name, proc in procs if proc.poll() is not None]
        raise click.ClickException(f"{', '.join(failed)} exited; see {logs}/")
    except KeyboardInterrupt:
        click.echo("stopping…")
    finally:
        _stop(procs)
        down(settings)
