"""One frozen settings object, read from `AIQ_*` environment variables at the entry point."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIQ_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "localhost:9092"
    # Replicas of every topic we create (and Faust's changelogs): 3 on a cluster of three or
    # more brokers (`aiqleads up --brokers 3`), where min.insync.replicas is 2.
    kafka_replication: int = 1
    redis_url: str = "redis://localhost:6379/0"
    # Default: the embedded warehouse inside the state dir (chdb://.aiqleads/warehouse).
    clickhouse_url: str = ""
    state_dir: Path = Path(".aiqleads")

    stripe_api_key: SecretStr = SecretStr("sk_test_123")
    stripe_api_base: str = "http://localhost:12111"
    stripe_webhook_secret: SecretStr = SecretStr("whsec_local")

    # Faust
    app_id: str = "aiqleads"
    worker_web_host: str = "127.0.0.1"
    worker_web_port: int = 6066
    topic_partitions: int = 4
    topic_prefix: str = ""  # lets tests run in isolation on one broker

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Operators (/ops, /v1/ops/*): with a token, bearer or login cookie; without, loopback only.
    ops_token: SecretStr | None = None
    ops_poll_seconds: float = 5.0  # lag monitor and worker-metrics scrape interval
    ops_lag_window: int = 10  # polls in the Burrow-style status window
    ops_map_seconds: float = 30.0  # the lead map is recomputed this often
    ops_map_hours: float = 24.0  # leads scored within this many hours are mapped
    ops_map_resolution: int = 4  # H3 resolution of the map's hexagons

    # Landing in ClickHouse: whichever bound is hit first closes a batch.
    land_batch_rows: int = 10_000
    land_batch_seconds: float = 0.5

    # Validation
    max_event_bytes: int = 64 * 1024
    max_lead_age_days: int = 30
    max_clock_skew_seconds: int = 300

    # HTTP ingest: {"portal": "key", ...} for sources that cannot speak Kafka
    ingest_api_keys: dict[str, SecretStr] = {}

    # Dedupe and fraud
    dedupe_window_hours: float = 72.0
    fraud_quarantine_threshold: float = 0.5
    partners_file: Path | None = None  # partner CSV mappings; the bundled file when unset

    # Scoring
    model_spec: str = "StandardScaler|LogisticRegression"
    model_seed: int = 42
    # Champion/challenger: a deterministic hash of lead_id sends this share to the challenger.
    challenger_spec: str = "StandardScaler|LogisticRegression(optimizer='AdaGrad', lr=0.1)"
    challenger_share: float = 0.1
    # Auto-promotion: the challenger must beat the champion's ROC AUC by this margin
    # over at least this many labels (0 labels = never promote automatically).
    promote_min_labels: int = 5_000
    promote_auc_margin: float = 0.01
    reason_codes: int = 3  # top contributing features reported per lead
    # How often the learning join forgets snapshots and outcomes no label can use any more.
    join_sweep_seconds: float = 3_600.0
    score_half_life_hours: float = 48.0  # a lead's score halves with every this much age

    # Features
    density_window_hours: float = 24.0
    competitors_file: Path | None = None  # seed offices; the bundled file when unset
    competitor_radius_km: float = 5.0
    session_gap_minutes: float = 30.0
    market_half_life_hours: float = 168.0  # EWMA memory of market context per res-7 cell

    # Serving: rankings in Redis
    buyers_file: Path | None = None  # buyer profiles; the bundled file when unset
    ranking_size: int = 200  # leads kept per cell and per buyer ranking
    lead_card_ttl_hours: float = 72.0

    # Marketplace API (read side): recommendations, the live feed, keys and rate limits
    priority_window_seconds: float = 60.0  # standard buyers see a new lead this much later
    rate_limit_standard: str = "20/second"  # per API key, `limits` notation (N/second|minute)
    rate_limit_premium: str = "50/second"
    rate_limit_publishable: str = "5/second"  # feed keys: a website's visitors connect
    reco_cache_seconds: float = 10.0  # a ranked query is reused this long (sold/held checked live)
    reco_max_radius_km: float = 50.0
    feed_max_connections_per_key: int = 20
    feed_heartbeat_seconds: float = 15.0
    feed_stream_maxlen: int = 100_000  # the global feed stream: how far back a resume reaches

    # Marketplace API (transactions): holds, limits, checkout, returns
    hold_seconds: float = 900.0  # a standard buyer's hold
    hold_seconds_premium: float = 1800.0
    hold_max_seconds: float = 3600.0  # extensions never take a hold past this from its start
    checkout_hold_seconds: float = 1800.0  # a checkout keeps its holds at least this long
    return_window_hours: float = 72.0
    bulk_max: int = 500  # leads in one bulk call
    cart_max_items: int = 500
    # Per buyer unless `schemas/buyers.json` or an operator (`PUT /v1/admin/buyers/{id}/limits`)
    # says otherwise; 0 = no limit.
    limit_concurrent_holds: int = 100
    limit_leads_per_day: int = 500
    limit_daily_spend_usd: float = 25_000.0
    stripe_webhook_tolerance_seconds: int = 300

    # Schema drift: profile 1 in N raw events a topic; compare windows of sampled events
    drift_sample_every: int = 10
    drift_window_events: int = 200
    drift_window_seconds: float = 300.0

    # Model health: per-arm figures into ClickHouse model_metrics this often
    model_metrics_seconds: float = 60.0
    # The scorer, fraud screen and recommender are checkpointed this often. A crash replays
    # what was learned since (its messages stay unacked until a checkpoint holds it), so
    # this bounds the replay; each checkpoint stalls the loop for its dump (~30 ms).
    checkpoint_seconds: float = 30.0

    # The raw → scored batch loop (agents/ingest.py) and the serve loop (agents/serve.py):
    # a batch is scored, stored and committed as one. 1,000 amortises the per-batch costs
    # (flush, one insert, one Redis pipeline, one commit: ~5-20 ms together) to a few µs a
    # lead while a batch still scores in ~0.1 s, the longest the event loop is held.
    # A poll waits this long to fill its batch when traffic is light (librdkafka's consume
    # blocks until the batch is full or the time is up), and a lead crosses two such polls
    # on its way to Redis: 50 ms gave p99 → Redis 298-557 ms at half the maximum, 10 ms
    # 196 ms, with the saturated rate unchanged (a backlog fills batches before the time
    # is up; the storer merges small batches that queue up). BENCHMARKS.md, 2026-12-05.
    ingest_batch_max: int = 1_000
    ingest_poll_seconds: float = 0.01

    @model_validator(mode="after")
    def _embedded_warehouse_in_state_dir(self) -> Settings:
        if not self.clickhouse_url:
            # Frozen model: the one place a default depends on another field.
            object.__setattr__(self, "clickhouse_url", f"chdb://{self.state_dir}/warehouse")
        return self

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    def topic(self, name: str) -> str:
        """The physical topic name for a contract topic name (e.g. `leads.scored`)."""
        return f"{self.topic_prefix}{name}"
