"""Prometheus metrics shared by the worker and the API (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter("aiq_events_in_total", "Raw lead events consumed", ["source"])
LEADS_SCORED = Counter("aiq_leads_scored_total", "Leads scored and emitted", ["source"])
DEAD_LETTERS = Counter(
    "aiq_dead_letters_total", "Events sent to the dead-letter topic", ["source", "reason"]
)
ROWS_LANDED = Counter("aiq_rows_landed_total", "Rows inserted into ClickHouse", ["table"])
DEDUPE_RELINKED = Counter(
    "aiq_dedupe_relinked_total",
    "Leads re-sent linked to an earlier-dated original that arrived after them, or that "
    "another worker scored within a mirror delay",
)
READ_BACKS_ABANDONED = Counter(
    "aiq_read_backs_abandoned_total",
    "Re-sends of leads no worker remembered, given up because the lead had not landed "
    "within a minute: a displaced original stays on sale, a burst's lead unquarantined",
    ["kind"],  # "dedupe_link" or "fraud_pull"
)
FRAUD_SIGHTINGS_MIRRORED = Counter(
    "aiq_fraud_sightings_mirrored_total",
    "Other workers' fraud sightings this worker's screen remembered (fraud.sightings)",
)
FRAUD_PULLED_BACK = Counter(
    "aiq_fraud_pulled_back_total",
    "Leads re-sent quarantined when a later lead of their burst exposed it, by whose verdict",
    ["verdict"],  # "own", "other" (a worker that shares its sightings), or "read_back"
)
LAND_FAILURES = Counter(
    "aiq_land_failures_total", "Failed ClickHouse inserts (retried)", ["table"]
)
LAND_BATCH_SECONDS = Histogram(
    "aiq_land_batch_seconds",
    "ClickHouse insert time per batch",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PIPELINE_LATENCY = Histogram(
    "aiq_pipeline_latency_seconds",
    "Kafka produce timestamp of the raw event → lead landed in ClickHouse",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30),
)
OUTCOMES_LEARNED = Counter(
    "aiq_outcomes_learned_total", "Outcomes joined to their feature snapshot and learned", ["model"]
)
OUTCOMES_WAITING = Gauge(
    "aiq_outcomes_waiting", "Outcomes that arrived before their lead's feature snapshot"
)
SNAPSHOTS_KEPT = Gauge(
    "aiq_snapshots_kept",
    "Feature snapshots and learned marks the learning join keeps",
)
MODEL_SCORE = Histogram(
    "aiq_model_score",
    "Distribution of conversion scores",
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0),
)

HTTP_REQUESTS = Counter(
    "aiq_http_requests_total", "API requests by route template", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "aiq_http_request_seconds",
    "API request latency by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

INGEST_HTTP = Counter(
    "aiq_ingest_http_total",
    "HTTP ingest requests by source and outcome (accepted, a refusal, or a reason code)",
    ["source", "outcome"],
)

SCHEMA_DRIFT = Counter(
    "aiq_schema_drift_total",
    "Schema drift detected in a source's raw events (sampled profile)",
    ["source", "kind", "field"],
)

# Champion/challenger scoring (agents/models.py publishes these on a timer).
MODEL_ONLINE_METRIC = Gauge(
    "aiq_model_online_metric",
    "Progressive (predict-then-learn) metric per arm, rolling over its last 10,000 labels",
    ["arm", "metric"],
)
MODEL_LABELS = Gauge("aiq_model_labels", "Labels the arm's model has learned", ["arm"])
FEATURE_IMPORTANCE = Gauge(
    "aiq_feature_importance",
    "Decayed mean |w·z| contribution of a feature to the arm's log-odds",
    ["arm", "feature"],
)
MODEL_CHANGES = Counter(
    "aiq_model_changes_total",
    "Champion changes: promote or rollback, by operator or the auto-promotion rule",
    ["action", "trigger"],
)
MODEL_CHECKPOINTS = Counter("aiq_model_checkpoints_total", "Scorer checkpoints written")

# Consumer lag (infra/ops/lag.py, polled by the API or `aiqleads lag`). Label values are the
# system's own groups, topics and partitions: bounded.
CONSUMER_LAG_OFFSETS = Gauge(
    "aiq_consumer_lag_offsets", "Log end offset minus the group's committed offset",
    ["group", "topic", "partition"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "aiq_consumer_lag_seconds",
    "Age of the oldest unprocessed message, from the sampled log end history",
    ["group", "topic", "partition"],
)
CONSUMER_GROUP_LAG_SECONDS = Gauge(
    "aiq_consumer_group_lag_seconds", "The group's largest partition lag in seconds", ["group"]
)
CONSUMER_PARTITION_STATUS = Gauge(
    "aiq_consumer_partition_status",
    "Burrow-style partition status, 1 for the current one (OK, WARN, STOP, STALL, REWIND)",
    ["group", "topic", "partition", "status"],
)
CONSUMER_GROUP_STATUS = Gauge(
    "aiq_consumer_group_status", "Burrow-style group status, 1 for the current one (OK, WARN, ERR)",
    ["group", "status"],
)
LAG_POLLS = Counter("aiq_lag_polls_total", "Lag monitor polls of Kafka", ["result"])

# Reachability of the services, as the last /readyz or ops poll of this process saw them.
DEPENDENCY_UP = Gauge(
    "aiq_dependency_up", "1 when the service answered the last check", ["dependency"]
)

# End-to-end latency from the raw event's Kafka timestamp to each stage.
STAGE_LATENCY = Histogram(
    "aiq_stage_latency_seconds",
    "Kafka produce timestamp of the raw event → the lead reached this stage "
    "(scored, landed in ClickHouse, visible in Redis)",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120),
)
SINK_BATCH_ROWS = Histogram(
    "aiq_sink_batch_rows", "Rows per batch written to a sink", ["sink"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
SINK_FLUSH_SECONDS = Histogram(
    "aiq_sink_flush_seconds", "Time to write one batch to a sink", ["sink"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LEAD_FLAGS = Counter(
    "aiq_lead_flags_total", "Scored leads flagged as quarantined (fraud) or duplicate",
    ["source", "flag"],
)


def observe_scored(source: str, produced_ms: int, scored_ms: int, *, quarantined: bool,
                   duplicate: bool) -> None:
    """One scored lead: its produce→scored latency and its flags."""
    STAGE_LATENCY.labels("scored").observe(max(scored_ms - produced_ms, 0) / 1000)
    if quarantined:
        LEAD_FLAGS.labels(source, "quarantined").inc()
    if duplicate:
        LEAD_FLAGS.labels(source, "duplicate").inc()


def observe_sink_batch(sink: str, rows: int, seconds: float, done_ms: int,
                       produced_ms: list[int] | None = None, stage: str = "") -> None:
    """One batch written to a sink; with `stage`, each row's produce→stored latency."""
    SINK_BATCH_ROWS.labels(sink).observe(rows)
    SINK_FLUSH_SECONDS.labels(sink).observe(seconds)
    if stage and produced_ms:
        histogram = STAGE_LATENCY.labels(stage)
        for ms in produced_ms:
            histogram.observe(max(done_ms - ms, 0) / 1000)
OUTCOMES_DROPPED = Counter(
    "aiq_outcomes_dropped_total",
    "Outcomes not learned: their lead expired or is unknown (streams.scoring.labels), or "
    "it was learned already (a replay after a restart, or a second outcome)",
    ["reason"],
)
MODEL_METRICS_ROWS = Counter(
    "aiq_model_metrics_rows_total", "Per-arm metric rows written to model_metrics", ["result"]
)
# Marketplace API (read side)
RECO_CACHE = Counter(
    "aiq_reco_cache_requests_total",
    "Recommendation reads by response cache result (hit: served from the cached ranking)",
    ["result"],
)
FEED_CLIENTS = Gauge("aiq_feed_clients", "Live feed (SSE) connections open in this process")
FEED_EVENTS = Counter(
    "aiq_feed_events_total", "Live feed events sent to clients", ["kind"]
)
FEED_DELIVERY_SECONDS = Histogram(
    "aiq_feed_delivery_seconds",
    "Lead scored → its feed event written to a client (premium subscribers)",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10),
)
RATE_LIMITED = Counter("aiq_rate_limited_total", "Requests refused over a key's rate limit")
# Marketplace API (transactions)
HOLDS = Counter("aiq_holds_total", "Per-lead hold results (held, taken, sold, over_limit, "
                "not_found)", ["result"])
CHECKOUTS = Counter("aiq_checkouts_total", "Checkouts by result (ok, refused, replayed, error)",
                    ["result"])
SALES = Counter("aiq_leads_sold_total", "Leads sold (each exactly once)")
WEBHOOKS = Counter("aiq_stripe_webhooks_total", "Stripe webhook deliveries by what they did",
                   ["result"])
STRIPE_ERRORS = Counter("aiq_stripe_errors_total", "Stripe calls that failed", ["call"])
OUTBOX_RELAYED = Counter("aiq_outbox_relayed_total", "Audit events relayed to cart.events")
