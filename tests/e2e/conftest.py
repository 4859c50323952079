"""Fault scenarios on a private stack (see `tests/e2e/stack.py`), one table at the end.

- `private_stack` (package): Kafka, Redis and a ClickHouse server on free ports under their
  own state dir, started through `infra.stack` and stopped after the last scenario.
- `run_settings`: one isolated run on that stack; its database is dropped afterwards.
- `scenario_table`: each scenario adds its row (leads, faults, lost, duplicated, result,
  time); the table is printed after the tests and, with `AIQ_CHAOS_REPORT=FILE`, written as
  JSON lines.
- Size: the short versions run in `make test`; `AIQ_CHAOS=1` (what `make chaos` sets) runs
  the full sizes and the scenarios marked `chaos`, which are deselected otherwise.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from infra.settings import Settings
from tests.e2e.counts import Tally
from tests.e2e.stack import PrivateStack, private_settings

FULL = os.environ.get("AIQ_CHAOS", "") not in ("", "0")
REPORT_ENV = "AIQ_CHAOS_REPORT"


def size(short: int, full: int) -> int:
    return full if FULL else short


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FULL:
        return
    chaos = [item for item in items if item.get_closest_marker("chaos")]
    if chaos:
        config.hook.pytest_deselected(items=chaos)
        items[:] = [item for item in items if not item.get_closest_marker("chaos")]


@dataclass
class Row:
    scenario: str
    leads: int
    faults: str
    lost: int
    duplicated: int
    result: str
    seconds: float


_ROWS: list[Row] = []


class ScenarioTable:
    def __init__(self, name: str) -> None:
        self.name = name
        self.began = time.monotonic()

    def add(self, leads: int, faults: str, tally: Tally, *, extra_ok: bool = True) -> None:
        row = Row(self.name, leads, faults, tally.lost, tally.duplicated,
                  "pass" if tally.exact and extra_ok else "FAIL",
                  round(time.monotonic() - self.began, 1))
        _ROWS.append(row)
        report = os.environ.get(REPORT_ENV)
        if report:
            with Path(report).open("a") as f:
                f.write(json.dumps(asdict(row)) + "\n")


def format_table(rows: list[Row]) -> str:
    header = ("scenario", "leads", "faults", "lost", "duplicated", "result", "time")
    cells = [header] + [(r.scenario, f"{r.leads:,}", r.faults, str(r.lost), str(r.duplicated),
                         r.result, f"{r.seconds:.0f} s") for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _ROWS:
        terminalreporter.section("fault scenarios")
        terminalreporter.write_line(format_table(_ROWS))


# Package scope: stopped after the last scenario, not kept running through the rest of
# `make test` (pytest runs tests/e2e before tests/integration and tests/unit).
@pytest.fixture(scope="package")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    stack = PrivateStack(private_settings(tmp_path_factory.mktemp("e2e-stack")))
    stack.up()
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture
def run_settings(private_stack: PrivateStack, tmp_path: Path) -> Iterator[Settings]:
    settings = private_stack.run(tmp_path)
    yield settings
    private_stack.drop(settings)


@pytest.fixture
def scenario_table(request: pytest.FixtureRequest) -> ScenarioTable:
    return ScenarioTable(request.node.name.removeprefix("test_"))
