"""`aiqleads bench pipeline`: the whole-pipeline benchmark against the running services."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from infra.cli.common import settings


@click.group()
def bench() -> None:
    """Benchmarks against the services from `aiqleads up`."""


@bench.command()
@click.option("--seconds", default=30.0, show_default=True,
              help="Longest saturation window per run.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the figures here (and a PNG next to it).")
@click.option("--backend", "backends", multiple=True, type=click.Choice(["chdb", "server"]),
              help="Warehouse backends (default: both).")
@click.option("--workers", default="1,2", show_default=True, help="Worker counts to run.")
@click.option("--events", default=60_000, show_default=True,
              help="Generated events per saturation run.")
@click.option("--server-url", default="clickhouse://default:@127.0.0.1:9000/aiqleads",
              show_default=True, help="ClickHouse server (each run gets its own database).")
@click.option("--tree", type=click.Path(file_okay=False),
              help="Run the workers from another checkout (before/after in one sitting).")
@click.option("--label", default="this tree", show_default=True)
def pipeline(seconds: float, json_path: Path | None, backends: tuple[str, ...], workers: str,
             events: int, server_url: str, tree: str | None, label: str) -> None:
    """Passthrough, saturation with 1 and 2 workers per backend, latency at half the max."""
    from infra.demo import bench as engine

    config = engine.BenchConfig(
        seconds=seconds, backends=backends or ("chdb", "server"),
        workers=tuple(int(n) for n in workers.split(",")), events=events,
        server_url=server_url, tree=tree, label=label)
    problems = engine.unreachable(settings(), config)
    if problems:
        raise click.ClickException("cannot bench:\n  " + "\n  ".join(problems))
    work = Path(tempfile.mkdtemp(prefix="aiq-bench-"))
    result = engine.run(settings(), config, work, say=lambda s: click.echo(s, err=True))
    click.echo(engine.table(result))
    if json_path is not None:
        json_path.write_text(json.dumps({**engine.summary(result), "runs": result["runs"]},
                                        indent=1))
        engine.plot(result, json_path.with_suffix(".png"))
        click.echo(f"wrote {json_path} and {json_path.with_suffix('.png')}", err=True)
