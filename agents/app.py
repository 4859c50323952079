"""The Faust application, configured explicitly from `Settings` (no environment reads)."""

from __future__ import annotations

import faust

from agents import faust_patches, table_store
from infra.settings import Settings


def build_app(settings: Settings) -> faust.App:
    faust_patches.apply()  # at start-up, not as a side effect of importing this module
    table_store.register()
    bootstrap = ";".join(f"kafka://{host}" for host in settings.kafka_bootstrap.split(","))
    return faust.App(
        f"{settings.topic_prefix}{settings.app_id}",
        broker=bootstrap,
        # Tables live in memory and recover from their changelog topics on start, read in
        # bulk by librdkafka (`agents.table_store`; Faust's own path: ~5,000 records/s).
        store=f"{table_store.SCHEME}://",
        datadir=str(settings.state_dir / "faust"),
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        web_in_thread=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.kafka_replication,
        # At-least-once: Faust flushes the producer before each offset commit, and
        # exactly_once has known bugs (DESIGN decision 1).
        processing_guarantee="at_least_once",
        broker_commit_interval=1.0,
        # A crashed worker's partitions are reassigned once its session expires; Faust's
        # 60 s default leaves a restarted worker idle for a minute. Heartbeats run on the
        # consumer thread, so a short session does not trip over busy agents.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=5,
        producer_acks=-1,
        stream_wait_empty=False,
        web_enabled=True,
        table_cleanup_interval=60.0,
        # No standby copies of other workers' table partitions. A standby reads every
        # changelog record another worker writes (~5 a lead: feature stores, dedupe
        # originals, snapshots) through Faust's per-record path: with two workers that took
        # two thirds of their CPU (1,500 µs a lead instead of 530; 60,000 events drained in
        # 62-69 s instead of 24, BENCHMARKS.md). The price is a longer recovery when a
        # worker takes over partitions after a rebalance (it reads their changelogs from
        # the start); the dedupe table is mirrored whole by every worker anyway.
        table_standby_replicas=0,
    )
