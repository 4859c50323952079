"""The names the system's parts agree on, declared once: sources, topics, headers, tables.

Agents, adapters, the API, the CLI and the tests import these; nobody spells them again.
Topic names here are contract names: `Settings.topic(name)` adds a deployment's prefix.
"""

from __future__ import annotations

#: Lead sources: `--source` names, `leads.raw.<source>` suffixes, `/v1/ingest/{source}`.
SOURCES: tuple[str, ...] = ("portal", "facebook", "webform", "partner", "crm")

# --- topics -----------------------------------------------------------------------------
RAW_PREFIX = "leads.raw."
LEADS_SCORED = "leads.scored"
LEADS_DLQ = "leads.dlq"
LEADS_OUTCOMES = "leads.outcomes"
ENGAGEMENT_EVENTS = "engagement.events"
CART_EVENTS = "cart.events"
SCHEMA_DRIFT = "schemas.drift"  # keyed by source
MARKET_COMPETITORS = "market.competitors"  # keyed by office_id
BUYER_INTERACTIONS = "buyer.interactions"  # keyed by buyer_id
# A scored chunk's sightings a record, keyed by the writing worker; every worker reads all.
FRAUD_SIGHTINGS = "fraud.sightings"
# Unkeyed: each message lists the feature snapshots of the leads one raw batch sent to
# that same partition of leads.scored (co-partitioned with leads.outcomes by lead_id).
LEADS_SNAPSHOTS = "leads.snapshots"


def raw_topic(source: str) -> str:
    """`portal` → `leads.raw.portal`."""
    return f"{RAW_PREFIX}{source}"


RAW_TOPICS: tuple[str, ...] = tuple(raw_topic(source) for source in SOURCES)

#: Every topic the system owns; created up front with one partition count, so that
#: `leads.scored` and `leads.outcomes` stay co-partitioned by `lead_id`.
CONTRACT_TOPICS: tuple[str, ...] = (
    *RAW_TOPICS, LEADS_SCORED, LEADS_DLQ, LEADS_OUTCOMES, ENGAGEMENT_EVENTS, CART_EVENTS,
    SCHEMA_DRIFT, MARKET_COMPETITORS, BUYER_INTERACTIONS, FRAUD_SIGHTINGS, LEADS_SNAPSHOTS,
)

#: Topic settings other than the broker's defaults. Sightings matter for the screen's
#: windows (15 minutes) and the mirror reads them whole at start: keep an hour.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    FRAUD_SIGHTINGS: {"retention.ms": str(60 * 60_000)},
}

# --- message headers (Kafka and HTTP; names lower-case) ---------------------------------
SOURCE_HEADER = "x-source"  # the source a produced raw event belongs to
PARTNER_HEADER = "x-partner-id"  # the partner of a partner CSV row
CLIENT_IP_HEADER = "x-client-ip"  # set by HTTP ingest: the submitter's address
INGEST_HEADER = "x-ingest"  # how an event entered ("http" for HTTP ingest)
RECEIVED_MS_HEADER = "x-received-ms"  # when HTTP ingest received it, epoch ms
DLQ_ORIGIN_HEADER = "x-dlq-origin"  # a replayed dead letter's first topic/partition/offset
DLQ_REASON_HEADER = "x-dlq-reason"  # the reason it was dead-lettered then

# --- warehouse tables (ClickHouse database `aiqleads`) ----------------------------------
LEADS_TABLE = "leads"
DLQ_TABLE = "dlq"
OUTCOMES_TABLE = "outcomes"
ENGAGEMENT_TABLE = "engagement"
CART_EVENTS_TABLE = "cart_events"
MODEL_METRICS_TABLE = "model_metrics"  # per-arm online metrics, once a minute
