"""What `/ops` shows, computed from Prometheus text: the worker's `/metrics` and the API's own.

Pure: exposition text in, numbers out. Rates and latency percentiles come from the difference
of two scrapes (`then`, `now`) the way PromQL's `rate` and `histogram_quantile` would, so the
page shows the last half minute, not the averages since the process started.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]
Samples = dict[str, dict[Labels, float]]  # sample name → labels → value

PERCENTILES = (0.5, 0.95, 0.99)


def parse(text: str, *, extra: dict[str, str] | None = None) -> Samples:
    """Samples by name and label set; `extra` labels tag the text's origin (process)."""
    out: Samples = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            if extra:
                labels.update(extra)
            out[sample.name][frozenset(labels.items())] = sample.value
    return out


def merge(*parts: Samples) -> Samples:
    out: Samples = defaultdict(dict)
    for part in parts:
        for name, series in part.items():
            out[name].update(series)
    return out


@dataclass(frozen=True)
class Scrape:
    at: float
    samples: Samples


def _sum_by(samples: Samples, name: str, label: str | None = None,
            where: dict[str, str] | None = None) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for labels, value in samples.get(name, {}).items():
        d = dict(labels)
        if where and any(d.get(k) != v for k, v in where.items()):
            continue
        out[d.get(label, "") if label else ""] += value
    return dict(out)


def _rate(now: Scrape, then: Scrape | None, name: str, label: str | None = None,
          where: dict[str, str] | None = None) -> dict[str, float]:
    current = _sum_by(now.samples, name, label, where)
    if then is None or now.at <= then.at:
        return {k: 0.0 for k in current}
    before = _sum_by(then.samples, name, label, where)
    seconds = now.at - then.at

    def increase(value: float, earlier: float) -> float:
        # A counter that went down is a restarted process: count from zero, as rate() does.
        return value - earlier if value >= earlier else value

    return {k: round(increase(v, before.get(k, 0.0)) / seconds, 6) for k, v in current.items()}


def _total(values: dict[str, float]) -> float:
    return round(sum(values.values()), 3)


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """`histogram_quantile` over cumulative (upper bound, count) buckets ending at +Inf."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bucket: its bound, as Prometheus does
            width = count - below
            return lower + (bound - lower) * ((rank - below) / width if width else 1.0)
        lower, below = bound, count
    return lower


def _histogram(now: Scrape, then: Scrape | None, name: str, label: str
               ) -> dict[str, list[tuple[float, float]]]:
    def collect(s: Samples) -> dict[str, dict[float, float]]:
        out: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        for labels, value in s.get(f"{name}_bucket", {}).items():
            d = dict(labels)
            out[d.get(label, "")][float(d["le"])] += value
        return out

    current = collect(now.samples)
    before = collect(then.samples) if then is not None else {}
    result: dict[str, list[tuple[float, float]]] = {}
    for key, buckets in current.items():
        old = before.get(key, {})
        delta = [(le, count - old.get(le, 0.0)) for le, count in sorted(buckets.items())]
        if delta and delta[-1][1] <= 0:
            continue  # nothing observed in the window
        result[key] = delta
    return result


def summarize(now: Scrape, then: Scrape | None) -> dict[str, object]:
    s = now.samples
    scored = _rate(now, then, "aiq_leads_scored_total")
    flags = _rate(now, then, "aiq_lead_flags_total", "flag")
    scored_total = _total(scored)
    latency = {
        stage: {f"p{int(q * 100)}": quantile(q, buckets) for q in PERCENTILES}
        for stage, buckets in _histogram(now, then, "aiq_stage_latency_seconds", "stage").items()
    }
    dlq_totals = _sum_by(s, "aiq_dead_letters_total", "reason")
    dlq_rates = _rate(now, then, "aiq_dead_letters_total", "reason")
    arms: dict[str, dict[str, float | None]] = defaultdict(dict)
    for labels, value in s.get("aiq_model_online_metric", {}).items():
        d = dict(labels)
        arms[d["arm"]][d["metric"]] = round(value, 4)
    for labels, value in s.get("aiq_model_labels", {}).items():
        arms[dict(labels)["arm"]]["labels"] = value
    cache = _sum_by(s, "aiq_reco_cache_requests_total", "result")
    lookups = cache.get("hit", 0.0) + cache.get("miss", 0.0)
    checkouts = _sum_by(s, "aiq_checkouts_total", "result")
    processes = {}
    for proc in sorted({dict(labels).get("process", "") for labels in
                        s.get("process_resident_memory_bytes", {})}):
        cpu = _rate(now, then, "process_cpu_seconds_total", where={"process": proc})
        rss = _sum_by(s, "process_resident_memory_bytes", where={"process": proc})
        processes[proc] = {"cpu": round(_total(cpu), 3),
                           "rss_mb": round(_total(rss) / 2**20, 1)}
    sinks = {}
    for sink, rows in _rate(now, then, "aiq_sink_batch_rows_sum", "sink").items():
        batches = _rate(now, then, "aiq_sink_batch_rows_count", "sink").get(sink, 0.0)
        flush = _rate(now, then, "aiq_sink_flush_seconds_sum", "sink").get(sink, 0.0)
        sinks[sink] = {"rows_per_s": round(rows, 2),
                       "rows_per_batch": round(rows / batches, 1) if batches else None,
                       "flush_ms": round(1000 * flush / batches, 2) if batches else None}
    return {
        "at": now.at,
        "throughput": {
            "in": _total(_rate(now, then, "aiq_events_in_total")),
            "scored": scored_total,
            "dlq": _total(dlq_rates),
            "landed": _total(_rate(now, then, "aiq_rows_landed_total", where={"table": "leads"})),
            "served": round(sinks.get("redis_rankings", {}).get("rows_per_s", 0.0), 3),
        },
        "by_source": {src: round(v, 3) for src, v in
                      _rate(now, then, "aiq_events_in_total", "source").items()},
        "fraud_rate": round(flags.get("quarantined", 0.0) / scored_total, 4)
        if scored_total else None,
        "duplicate_rate": round(flags.get("duplicate", 0.0) / scored_total, 4)
        if scored_total else None,
        "latency": latency,
        "dlq": sorted(({"reason": r, "total": int(t), "rate": round(dlq_rates.get(r, 0.0), 3)}
                       for r, t in dlq_totals.items()), key=lambda d: -d["total"]),
        "models": [{"arm": arm, **values} for arm, values in sorted(arms.items())],
        "cache": {"hits": int(cache.get("hit", 0)), "misses": int(cache.get("miss", 0)),
                  "hit_rate": round(cache.get("hit", 0.0) / lookups, 4) if lookups else None},
        "market": {
            "holds": int(_total(_sum_by(s, "aiq_holds_total"))),
            "checkouts": int(_total(checkouts)),
            "checkout_errors": int(checkouts.get("error", 0.0)),
            "stripe_errors": int(_total(_sum_by(s, "aiq_stripe_errors_total"))),
            "feed_clients": int(_total(_sum_by(s, "aiq_feed_clients"))),
        },
        "sinks": sinks,
        "processes": processes,
    }
