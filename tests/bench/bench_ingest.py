"""In-process cost of the whole fused ingest stage, per source and mixed.

parse → validate → H3 → dedupe → fraud screen → features (with the worker's feature
stores) → score on generated traffic (all five sources, 3 % malformed, 5 % fraud, 3 %
duplicates), one core, no Kafka, after a warm-up on other events. Every event is timed
on its own: the mean is the throughput (events/s per core), the median the typical lead,
p99 the tail (garbage collections, cache misses). The best 500-event chunk says what the
code costs when the shared machine leaves us alone; the yardstick (a msgspec typed
decode, 0.75 µs on a quiet machine of this class) says how busy it was; the garbage
collector's pauses are timed too. Run: `make bench`, or `.venv/bin/python -m
tests.bench.bench_ingest`.

Before/after on a shared machine: absolute numbers move with the neighbours, so
`--against DIR` runs another checkout's `streams` package (e.g. `mkdir /tmp/old &&
git archive <commit> streams | tar -x -C /tmp/old`) beside this one in one process,
chunk by chunk in turns, through parse → validate (per source) and the issue-3 stages
parse → validate → H3 → dedupe → fraud screen (mixed), and prints both and the ratio.

`--same DIR` checks that a speed-up changed nothing: 20,000 generated events (written
once, so both read the same bytes) go through this tree's `ingest_one` and through DIR's
`streams` (e.g. `git -C <checkout> archive HEAD streams | tar -x -C DIR`), each in a fresh
process with the same clock and warm-up, and every scored lead, rejection and implicating
verdict must encode (msgspec) to the same bytes.

`--split` times each step of the stage on its own over the same leads (its code and
data stay hot in the CPU caches) and the whole stage two ways: fused, one event at a
time through every step, and staged, a 500-event batch through each step in turn (the
worker's `prepare` + `score_prepared`, over chunks of 100).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TypeVar

import msgspec
import pytest

import streams
from infra.settings import Settings
from schemas.codec import encode
from schemas.contract import SOURCES
from schemas.lead import Lead, ScoredLead
from schemas.raw import PortalInquiry
from streams.dedupe import find_original
from streams.enrich import H3Cells, enrich
from streams.errors import LeadRejected
from streams.features.build import feature_stores
from streams.features.competitors import load_competitors
from streams.features.lead import lead_features
from streams.features.store import LeadFeatureStore
from streams.fraud.screen import FraudScreen
from streams.ingest import (
    IngestConfig,
    IngestState,
    Prepared,
    ingest_one,
    prepare,
    score_prepared,
)
from streams.parse.registry import parse, warm
from streams.scoring.arms import Scorer
from streams.traffic.generator import GeneratedEvent, generate
from streams.validate import validate

pytestmark = pytest.mark.bench

EVENTS = 20_000
CHUNK = 500
T = TypeVar("T")


@dataclass
class Run:
    by_source: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    chunks: list[float] = field(default_factory=list)  # µs/event of each CHUNK in order
    gc_pauses: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def all(self) -> list[float]:
        return [us for times in self.by_source.values() for us in times]


def _state() -> IngestState:
    settings = Settings()
    scorer = Scorer.from_specs(settings.model_spec, settings.challenger_spec or None,
                               seed=settings.model_seed,
                               challenger_share=settings.challenger_share,
                               reason_codes=settings.reason_codes)
    # The worker's feature stores (issue 4) are part of the stage: a lead is read against
    # them and counted in them (no engagement is fed here: see bench_features for that).
    stores = feature_stores(offices=load_competitors(settings.competitors_file))
    return IngestState(scorer=scorer, screen=FraudScreen(), first_lead_by_contact={},
                       stores=stores.all)


def _ingest(events: list[GeneratedEvent], state: IngestState, now: datetime, run: Run) -> None:
    config = IngestConfig()
    clock = time.perf_counter_ns
    chunk_started = clock()
    for i, event in enumerate(events, 1):
        started = clock()
        with contextlib.suppress(LeadRejected):
            ingest_one(event.source, event.value, received=now, produced_ms=0, config=config,
                       state=state, headers=event.headers)
        ended = clock()
        run.by_source[event.source].append((ended - started) / 1000)
        if i % CHUNK == 0:
            run.chunks.append((ended - chunk_started) / CHUNK / 1000)
            chunk_started = ended


def _collector(mode: str) -> None:
    """Set the garbage collector up after the warm-up: `default` (the interpreter's),
    `freeze` (start-up and warm-up objects out of full passes), `threshold` (the worker's
    GC_THRESHOLD) or `worker` (both, as `agents.worker.run_worker` does)."""
    gc.collect()  # the warm-up's garbage is not the measured events' cost
    if mode in ("freeze", "worker"):
        gc.freeze()
    if mode in ("threshold", "worker"):
        from agents.worker import GC_THRESHOLD  # faust and all: only when asked for

        gc.set_threshold(*GC_THRESHOLD)
    elif mode not in ("default", "freeze"):
        raise ValueError(f"unknown gc mode {mode!r}")


def run(count: int = EVENTS, gc_mode: str = "default") -> Run:
    warm()
    now = datetime.now(UTC)
    events = generate(count, sources=SOURCES, seed=77, malformed_share=0.03, fraud_share=0.05,
                      duplicate_share=0.03, now=now)
    warmup = generate(2000, sources=SOURCES, seed=78, malformed_share=0.03, now=now)
    state = _state()
    # Lazy tables (partners, area codes, phone metadata) and caches fill on first use.
    _ingest(warmup, state, now, Run())
    thresholds = gc.get_threshold()
    _collector(gc_mode)
    result = Run()
    started: list[float] = []

    def pause(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            result.gc_pauses[info["generation"]].append(time.perf_counter() - started.pop())

    gc.callbacks.append(pause)
    try:
        _ingest(events, state, now, result)
    finally:
        gc.callbacks.remove(pause)
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    return result


def yardstick() -> float:
    """Best µs of a msgspec typed decode of a portal inquiry (DESIGN.md: 0.75 when quiet)."""
    raws = [e.value for e in generate(2000, sources=("portal",), seed=79, malformed_share=0.0)]
    decoder = msgspec.json.Decoder(PortalInquiry)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter_ns()
        for raw in raws:
            decoder.decode(raw)
        best = min(best, (time.perf_counter_ns() - started) / len(raws) / 1000)
    return best


def _p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100)[98]


def render(result: Run) -> str:
    lines = ["| source | events | mean µs | median µs | p99 µs | events/s per core |",
             "|---|---|---|---|---|---|"]
    rows = [*sorted(result.by_source.items()), ("all", result.all)]
    for source, times in rows:
        mean = statistics.fmean(times)
        lines.append(f"| {source} | {len(times):,} | {mean:.1f} | {statistics.median(times):.1f}"
                     f" | {_p99(times):.0f} | {1e6 / mean:,.0f} |")
    best = min(result.chunks)
    lines.append(f"| all, best {CHUNK}-event chunk | | {best:.1f} | | | {1e6 / best:,.0f} |")
    pauses = ", ".join(
        f"gen{g} {len(p)}x {sum(p) * 1000:.0f} ms" for g, p in sorted(result.gc_pauses.items())
    )
    total_ms = sum(sum(p) for p in result.gc_pauses.values()) * 1000
    lines.append(f"\nGC pauses: {pauses or 'none'} ({total_ms * 1000 / len(result.all):.1f} "
                 "µs/event)")
    return "\n".join(lines)


def report(count: int = EVENTS, gc_mode: str = "default") -> str:
    table = render(run(count, gc_mode))
    return f"{table}\n\nYardstick: msgspec typed decode {yardstick():.2f} µs (DESIGN: 0.75 quiet)"


def test_ingest_stage_cost() -> None:
    result = run()
    print("\n\nFused ingest stage, in process (make bench)\n" + render(result))
    assert len(result.all) == EVENTS
    assert min(result.chunks) < 1000, "far outside any budget"


def _streams_from(tree: str) -> dict[str, ModuleType]:
    """The issue-3 modules of the `streams` package in another checkout, imported aside."""
    ours = {name: module for name, module in sys.modules.items()
            if name == "streams" or name.startswith("streams.")}
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, tree)
    try:
        names = ("parse", "validate", "errors", "enrich", "dedupe", "fraud")
        theirs = {name: importlib.import_module(f"streams.{name}") for name in names}
    finally:
        sys.path.remove(tree)
        for name in [n for n in sys.modules if n == "streams" or n.startswith("streams.")]:
            del sys.modules[name]
        sys.modules.update(ours)
    theirs["parse"].warm()
    return theirs


Step = Callable[[GeneratedEvent], None]


def _stage(m: dict[str, ModuleType], now: datetime, *, full: bool) -> Step:
    parse, validate, rejected = m["parse"].parse, m["validate"].validate, m["errors"].LeadRejected
    enrich, find_original = m["enrich"].enrich, m["dedupe"].find_original
    screen, originals = m["fraud"].FraudScreen(), {}
    config = IngestConfig()
    window_ms = int(config.dedupe_window.total_seconds() * 1000)
    now_ms = int(now.timestamp() * 1000)

    def step(event: GeneratedEvent) -> None:
        try:
            lead = parse(event.source, event.value, now, headers=event.headers)
            lead = validate(lead, now, max_age=config.max_age, max_skew=config.max_skew)
        except rejected:
            return
        if full:
            cells = enrich(lead)
            find_original(lead, cells.r8, int(lead.event_time.timestamp() * 1000), window_ms,
                          originals)
            screen.screen_one(lead, cells.r7, now_ms)

    return step


def _turns(steps: dict[str, Step], events: list[GeneratedEvent],
           chunk: int = 250) -> dict[str, list[float]]:
    """µs/event of each chunk for each step; who goes first alternates chunk by chunk."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    for i, offset in enumerate(range(0, len(events), chunk)):
        batch = events[offset : offset + chunk]
        for name in order if i % 2 else order[::-1]:
            step, started = steps[name], time.perf_counter_ns()
            for event in batch:
                step(event)
            times[name].append((time.perf_counter_ns() - started) / len(batch) / 1000)
    return times


def compare(tree: str, count: int = 6000) -> str:
    """This tree against another checkout's `streams`: best and median chunk, and the ratio."""
    warm()
    now = datetime.now(UTC) - timedelta(seconds=1)
    old, new = _streams_from(tree), {n: sys.modules[f"streams.{n}"] for n in
                                    ("parse", "validate", "errors", "enrich", "dedupe", "fraud")}
    lines = ["| events | before best / median µs | after best / median µs | after/before |",
             "|---|---|---|---|"]
    cases = [(source, (source,), False) for source in SOURCES]
    cases.append(("all, parse → screen", SOURCES, True))
    for label, sources, full in cases:
        events = generate(count, sources=sources, seed=77, malformed_share=0.03,
                          fraud_share=0.05, duplicate_share=0.03, now=now)
        steps = {"before": _stage(old, now, full=full), "after": _stage(new, now, full=full)}
        _turns(steps, events[:1000])  # warm both
        times = _turns(steps, events[1000:])
        ratio = statistics.median(a / b for a, b in zip(times["after"], times["before"],
                                                        strict=True))
        cells = [f"{min(times[k]):.1f} / {statistics.median(times[k]):.1f}"
                 for k in ("before", "after")]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio:.2f} |")
    return "\n".join(lines)


def _best_median(step: Callable[[T], object], items: list[T], passes: int = 3) -> str:
    times: list[float] = []
    for _ in range(passes):
        for offset in range(0, len(items), CHUNK):
            batch = items[offset : offset + CHUNK]
            started = time.perf_counter_ns()
            for item in batch:
                step(item)
            times.append((time.perf_counter_ns() - started) / len(batch) / 1000)
    return f"{min(times):.1f} / {statistics.median(times):.1f}"


def split(count: int = 10_000) -> str:
    """Each step alone (hot), then the whole stage fused and staged; best / median µs."""
    warm()
    now = datetime.now(UTC)
    events = generate(count, sources=SOURCES, seed=77, malformed_share=0.03, fraud_share=0.05,
                      duplicate_share=0.03, now=now)
    state, config = _state(), IngestConfig()
    now_ms = int(now.timestamp() * 1000)
    window_ms = int(config.dedupe_window.total_seconds() * 1000)
    leads = []
    for event in events:
        with contextlib.suppress(LeadRejected):
            lead = parse(event.source, event.value, now, headers=event.headers)
            leads.append(validate(lead, now, max_age=config.max_age, max_skew=config.max_skew))
    located = [(lead, enrich(lead)) for lead in leads]
    originals: dict[str, str] = {}
    stores = _state().stores
    scored_lead = ScoredLead(**msgspec.structs.asdict(leads[0]))
    rows = [
        ("parse (all sources)", _best_median(
            lambda e: _suppress(parse, e.source, e.value, now, headers=e.headers), events)),
        ("validate", _best_median(
            lambda x: validate(x, now, max_age=config.max_age, max_skew=config.max_skew), leads)),
        ("H3 cells", _best_median(enrich, leads)),
        ("dedupe", _best_median(lambda x: find_original(
            x[0], x[1].r8, int(x[0].event_time.timestamp() * 1000), window_ms, originals),
            located)),
        ("fraud screen", _best_median(
            lambda x: state.screen.screen_one(x[0], x[1].r7, now_ms), located)),
        ("features + score (champion/challenger)", _best_median(
            lambda x: state.scorer.score_one(x.lead_id, lead_features(x)), leads)),
        # One pass, fresh stores: per-cell caches fill as they would on the stream.
        ("feature stores (read, then count)", _best_median(
            lambda x: _read_and_count(stores, x[0], x[1], now_ms), located, passes=1)),
        ("ScoredLead build (asdict + construct)", _best_median(
            lambda x: ScoredLead(**msgspec.structs.asdict(x), scored_ms=now_ms), leads)),
        ("encode for leads.scored", _best_median(lambda _: encode(scored_lead), leads)),
    ]
    fresh = _state()
    ingest = [(e, fresh) for e in events]
    rows.append(("whole stage, fused (per event)", _best_median(
        lambda x: _suppress(ingest_one, x[0].source, x[0].value, received=now, produced_ms=0,
                            config=config, state=x[1], headers=x[0].headers), ingest)))
    staged_state = _state()
    times: list[float] = []
    for _ in range(3):
        for offset in range(0, len(events), CHUNK):
            batch = events[offset : offset + CHUNK]
            started = time.perf_counter_ns()
            _staged(batch, staged_state, now, config)
            times.append((time.perf_counter_ns() - started) / len(batch) / 1000)
    rows.append(("whole stage, staged (500-event batches, as the worker)",
                 f"{min(times):.1f} / {statistics.median(times):.1f}"))
    lines = ["| step | best / median µs per event |", "|---|---|"]
    lines += [f"| {name} | {cell} |" for name, cell in rows]
    return "\n".join(lines)


def _read_and_count(stores: Sequence[LeadFeatureStore], lead: Lead, cells: H3Cells,
                    now_ms: int) -> None:
    for store in stores:
        store.features(lead, cells, now_ms)
    for store in stores:
        store.observe(lead, cells, now_ms)


def _suppress(call: Callable[..., object], *args: object, **kwargs: object) -> object:
    try:
        return call(*args, **kwargs)
    except LeadRejected:
        return None


def _staged(batch: list[GeneratedEvent], state: IngestState, now: datetime,
            config: IngestConfig) -> None:
    """The worker's path: `prepare` each event, then `score_prepared` the batch."""
    prepared: list[Prepared | Exception] = []
    for event in batch:
        try:
            prepared.append(prepare(event.source, event.value, received=now, produced_ms=0,
                                    config=config, headers=event.headers))
        except LeadRejected as exc:
            prepared.append(exc)
    while prepared:
        done = score_prepared(prepared, received=now, config=config, state=state)
        state.missed_links.clear()  # the worker re-sends them; nothing to re-send here
        prepared = prepared[len(done):]


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _outcomes(events_file: str, out_file: str, now_ms: int) -> None:
    """Run the events through whichever `streams` imported (the caller's sys.path says
    which tree's); write each event's outcome."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    with open(events_file, "rb") as f:
        warmup, events = msgspec.msgpack.decode(f.read(), type=tuple[list[GeneratedEvent],
                                                                     list[GeneratedEvent]])
    state = _state()
    _ingest(warmup, state, now, Run())
    config, records = IngestConfig(), []
    for event in events:
        try:
            lead = ingest_one(event.source, event.value, received=now, produced_ms=0,
                              config=config, state=state, headers=event.headers)
            record = encode(lead)
        except LeadRejected as exc:
            record = encode({"rejected": exc.reason, "detail": exc.detail})
        records.append([record, encode(state.screen.take_implicating())])
    with open(out_file, "wb") as f:
        f.write(msgspec.msgpack.encode({"streams": streams.__file__, "records": records}))


def same(tree: str, count: int = EVENTS) -> str:
    """Assert this tree and `tree`'s `streams` give byte-identical outcomes for `count` events."""
    now = datetime.now(UTC).replace(microsecond=0)
    now_ms = int(now.timestamp() * 1000)
    events = generate(count, sources=SOURCES, seed=77, malformed_share=0.03, fraud_share=0.05,
                      duplicate_share=0.03, now=now)
    warmup = generate(2000, sources=SOURCES, seed=78, malformed_share=0.03, now=now)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        events_file = os.path.join(tmp, "events")
        with open(events_file, "wb") as f:
            f.write(msgspec.msgpack.encode((warmup, events)))
        for name, first in (("this tree", _ROOT), (tree, os.path.abspath(tree))):
            out = os.path.join(tmp, "out")
            code = (f"import sys; sys.path[:0] = [{first!r}, {_ROOT!r}]; "
                    "from tests.bench.bench_ingest import _outcomes; "
                    f"_outcomes({events_file!r}, {out!r}, {now_ms})")
            subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp)
            with open(out, "rb") as f:
                results[name] = msgspec.msgpack.decode(f.read())
    ours, theirs = results["this tree"], results[tree]
    assert ours["streams"] != theirs["streams"], "both runs imported the same streams package"
    assert len(ours["records"]) == len(theirs["records"]) == count
    for i, (a, b) in enumerate(zip(ours["records"], theirs["records"], strict=True)):
        assert a == b, f"event {i} differs:\n{a}\n{b}"
    rejected = sum(r[0].startswith(b'{"rejected"') for r in ours["records"])
    implicating = sum(r[1] != b"[]" for r in ours["records"])
    return (f"{count:,} events byte-identical ({count - rejected:,} scored leads, {rejected:,} "
            f"rejections, {implicating:,} implicating verdicts): {ours['streams']} vs "
            f"{theirs['streams']}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--against":
        print(compare(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--same":
        print(same(sys.argv[2]))
    elif sys.argv[1:] == ["--split"]:
        print(split())
    elif len(sys.argv) == 3 and sys.argv[1] == "--gc":
        print(f"gc: {sys.argv[2]}\n" + report(gc_mode=sys.argv[2]))
    else:
        print(report())
