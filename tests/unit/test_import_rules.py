"""The house rules, read from the import statements of every first-party module.

- The simulator (`streams.traffic`) is imported only by itself, the demo drivers
  (`infra.demo`) and the CLI's entry points (`infra.cli`); production never imports it.
- `streams` is the pure core: no Kafka, Faust, Redis, ClickHouse, HTTP or Stripe, and
  nothing of `agents`, `api` or `infra`.
- `schemas` is the contract: it imports only itself.
- `agents` and `api` are entry points side by side: neither imports the other nor the CLI;
  adapters in `infra` import neither (only `infra.cli`, the composition root, wires them).
- No import circle, counting the imports inside functions too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("streams", "agents", "infra", "api", "schemas")
IO_LIBRARIES = ("faust", "mode", "aiokafka", "confluent_kafka", "redis", "clickhouse_driver",
                "chdb", "httpx", "stripe", "fastapi", "starlette", "uvicorn", "aiohttp", "requests",
                "socket", "prometheus_client")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


MODULES = _modules()


def _imports(path: Path, *, top_level_only: bool) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import module` imports pkg.module (a package's own __init__ runs
            # first whatever is imported from it, so that edge says nothing)
            submodules = [f"{node.module}.{a.name}" for a in node.names
                          if f"{node.module}.{a.name}" in MODULES]
            yield from submodules
            if len(submodules) < len(node.names):
                yield node.module


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _violations(importer: str, allowed: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{module} imports {target}"
            for module, path in MODULES.items() if _within(module, importer)
            and not any(_within(module, ok) for ok in allowed)
            for target in _imports(path, top_level_only=False)
            if any(_within(target, bad) for bad in forbidden)]


def test_the_modules_are_found() -> None:
    assert {"streams.ingest", "streams.traffic.generator", "agents.worker", "infra.cli",
            "api.main", "schemas.lead"} <= set(MODULES)


@pytest.mark.parametrize(("importer", "allowed", "forbidden"), [
    pytest.param("", ("streams.traffic", "infra.demo", "infra.cli"), ("streams.traffic",),
                 id="nothing-but-demo-and-cli-imports-the-simulator"),
    pytest.param("streams", (), ("agents", "api", "infra", *IO_LIBRARIES), id="pure-core"),
    pytest.param("schemas", (), ("streams", "agents", "api", "infra"), id="contract-stands-alone"),
    pytest.param("agents", (), ("api", "infra.cli", "infra.demo", "infra.ops"),
                 id="agents-are-an-entry-point"),
    pytest.param("api", (), ("agents", "infra.cli", "infra.demo"), id="api-is-an-entry-point"),
    pytest.param("infra", ("infra.cli",), ("agents", "api", "infra.cli"),
                 id="adapters-do-not-wire"),
])
def test_import_rule(importer: str, allowed: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    modules = [m for m in MODULES if not importer or _within(m, importer)]
    assert modules
    if not importer:  # every package
        found = [v for pkg in PACKAGES for v in _violations(pkg, allowed, forbidden)]
    else:
        found = _violations(importer, allowed, forbidden)
    assert found == []


def test_no_import_circle() -> None:
    graph = {module: {target for target in _imports(path, top_level_only=False)
                      if target in MODULES and target != module}
             for module, path in MODULES.items()}
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert circles == [], "\n".join(" → ".join(c) for c in circles)
