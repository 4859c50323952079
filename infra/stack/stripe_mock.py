"""stripe-mock, Stripe's official mock of its API (installed by `make deps` with
`go install` into the venv's bin), on the port of `AIQ_STRIPE_API_BASE`.

It is stateless: it checks requests against Stripe's OpenAPI spec and answers fixtures, so
idempotency and webhook handling stay ours to prove.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from infra.stack import ports, process
from infra.stack.managed import ManagedService
from infra.stack.service import MissingPrerequisiteError


def binary() -> str | None:
    beside_python = Path(sys.executable).parent / "stripe-mock"
    return str(beside_python) if beside_python.exists() else shutil.which("stripe-mock")


class StripeMockService(ManagedService):
    name = "stripe-mock"
    start_timeout = 30.0
    stop_timeout = 10.0

    @property
    def marker(self) -> str:
        return "stripe-mock"

    @property
    def host(self) -> str:
        return urlsplit(self.settings.stripe_api_base).hostname or "localhost"

    @property
    def port(self) -> int:
        return urlsplit(self.settings.stripe_api_base).port or 12111

    def check_prerequisites(self) -> None:
        if ports.is_loopback(self.host) and binary() is None:
            raise MissingPrerequisiteError(
                "stripe-mock not found: run `make deps` (it is installed with `go install`)")

    def answers(self) -> bool:
        if not ports.port_open(self.host, self.port):
            return False
        try:
            answer = httpx.get(f"{self.settings.stripe_api_base}/v1/balance", timeout=2,
                               auth=(self.settings.stripe_api_key.get_secret_value(), ""))
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def launch(self) -> int:
        path = binary()
        if path is None:
            raise MissingPrerequisiteError("stripe-mock not found")
        argv = [path, "-http-port", str(self.port)]
        return process.spawn(argv, log_file=self.log_file, pid_file=self.pid_file)
