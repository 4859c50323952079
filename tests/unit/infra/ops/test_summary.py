"""The /ops numbers from Prometheus text: rates over two scrapes, histogram quantiles as
PromQL computes them, restarts, and the per-arm and marketplace figures."""

from __future__ import annotations

import pytest

from infra.ops.summary import Scrape, merge, parse, quantile, summarize

BEFORE = """
aiq_events_in_total{source="portal"} 100
aiq_events_in_total{source="crm"} 10
aiq_leads_scored_total{source="portal"} 90
aiq_lead_flags_total{source="portal",flag="quarantined"} 1
aiq_dead_letters_total{source="portal",reason="bad_json"} 10
aiq_stage_latency_seconds_bucket{stage="scored",le="0.1"} 50
aiq_stage_latency_seconds_bucket{stage="scored",le="1.0"} 90
aiq_stage_latency_seconds_bucket{stage="scored",le="+Inf"} 90
aiq_stage_latency_seconds_count{stage="scored"} 90
aiq_stage_latency_seconds_sum{stage="scored"} 20
"""
AFTER = """
aiq_events_in_total{source="portal"} 300
aiq_events_in_total{source="crm"} 30
aiq_leads_scored_total{source="portal"} 290
aiq_lead_flags_total{source="portal",flag="quarantined"} 21
aiq_dead_letters_total{source="portal",reason="bad_json"} 30
aiq_stage_latency_seconds_bucket{stage="scored",le="0.1"} 50
aiq_stage_latency_seconds_bucket{stage="scored",le="1.0"} 290
aiq_stage_latency_seconds_bucket{stage="scored",le="+Inf"} 290
aiq_stage_latency_seconds_count{stage="scored"} 290
aiq_stage_latency_seconds_sum{stage="scored"} 120
aiq_model_online_metric{arm="champion",metric="roc_auc"} 0.71
aiq_model_labels{arm="champion"} 500
aiq_reco_cache_requests_total{result="hit"} 30
aiq_reco_cache_requests_total{result="miss"} 10
aiq_checkouts_total{result="ok"} 5
aiq_checkouts_total{result="error"} 1
"""


def test_rates_latency_and_rates_of_flags() -> None:
    then, now = Scrape(0.0, parse(BEFORE)), Scrape(10.0, parse(AFTER))
    s = summarize(now, then)
    assert s["throughput"]["in"] == pytest.approx(22.0)  # (200 + 20) / 10 s
    assert s["throughput"]["scored"] == pytest.approx(20.0)
    assert s["by_source"] == {"portal": 20.0, "crm": 2.0}
    assert s["fraud_rate"] == pytest.approx(0.1)
    # The window's 200 observations all fell in (0.1, 1]: p50 is the bucket's middle.
    assert s["latency"]["scored"]["p50"] == pytest.approx(0.55)
    assert s["dlq"] == [{"reason": "bad_json", "total": 30, "rate": 2.0}]
    assert s["models"] == [{"arm": "champion", "roc_auc": 0.71, "labels": 500.0}]
    assert s["cache"]["hit_rate"] == pytest.approx(0.75)
    assert s["market"]["checkout_errors"] == 1


def test_a_restarted_process_counts_from_zero() -> None:
    then = Scrape(0.0, parse('aiq_events_in_total{source="portal"} 1000\n'))
    now = Scrape(10.0, parse('aiq_events_in_total{source="portal"} 50\n'))
    assert summarize(now, then)["throughput"]["in"] == pytest.approx(5.0)


def test_quantile_matches_promql() -> None:
    buckets = [(0.1, 10.0), (0.5, 60.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * (50 - 10) / 50)
    assert quantile(0.99, [(1.0, 10.0), (float("inf"), 20.0)]) == 1.0
    assert quantile(0.5, [(1.0, 0.0), (float("inf"), 0.0)]) is None


def test_processes_are_told_apart() -> None:
    worker = parse("process_resident_memory_bytes 104857600\nprocess_cpu_seconds_total 5\n",
                   extra={"process": "worker"})
    api = parse("process_resident_memory_bytes 52428800\nprocess_cpu_seconds_total 1\n",
                extra={"process": "api"})
    then = Scrape(0.0, merge(worker, api))
    worker2 = parse("process_resident_memory_bytes 104857600\nprocess_cpu_seconds_total 10\n",
                    extra={"process": "worker"})
    s = summarize(Scrape(10.0, merge(worker2, api)), then)
    assert s["processes"] == {"api": {"cpu": 0.0, "rss_mb": 50.0},
                              "worker": {"cpu": 0.5, "rss_mb": 100.0}}
