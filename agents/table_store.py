"""Faust's in-memory table store, recovered with librdkafka instead of Faust's per-record path.

Faust recovers a memory table by reading its changelog from the start through its own
consumer, one record at a time: a channel, a queue, an `asyncio.wait_for` (a task) and a
count of every partition's remaining records after each one. A worker restarted after
15,000 leads (88,000 changelog records) spent ~18 s there, ~5,000 records a second, and a
month of feature snapshots is millions of records.

Here, when partitions are assigned, the changelog partitions new to this worker (all of
them at start-up) of the tables that keep a `Store` are first read to their end with one
batched C consumer on a thread (`infra.kafka.partition_log`), each record decoded as
Faust's changelog topic decodes it and applied with the memory store's own
`apply_changelog_batch`. Then Faust's recovery asks each store where its copy ends
(`persisted_offset`, which a disk store answers from the offsets it saved) and reads only
what was written after that (usually nothing) its own way. If the bulk read fails, the
stores answer None and Faust reads the partitions from the start, over whatever was
applied: replaying a log is harmless (the last record of a key wins), so a failed read
costs time, not state.

Use it as `store="aiqleads-memory://"` (`register()` teaches Faust the scheme).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, NamedTuple

import faust
from confluent_kafka import Message
from faust import stores
from faust.stores import memory
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

from infra.kafka.partition_log import read_to_end

log = logging.getLogger(__name__)

SCHEME = "aiqleads-memory"
READ_TIMEOUT = 300.0  # seconds; then Faust's own recovery takes over


class _Record(NamedTuple):
    """What the store reads of a changelog event and of its message."""

    key: Any
    value: Any
    partition: int


class _Event(NamedTuple):
    key: Any
    value: Any
    message: _Record


class Store(memory.Store):
    """`memory.Store`; its active partitions are read in bulk before Faust's recovery."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.loaded: dict[TP, int] = {}  # partition → last offset applied by the bulk read

    def persisted_offset(self, tp: TP) -> int | None:
        return self.loaded.pop(tp, None)

    def apply_records(self, messages: list[Message]) -> None:
        """Apply changelog records, decoded exactly as Faust decodes them on recovery."""
        schema, app = self.table.changelog_topic.schema, self.app
        events = []
        for message in messages:
            raw = _Record(message.key(), message.value(), message.partition())
            value = None if raw.value is None else schema.loads_value(app, raw)
            events.append(_Event(schema.loads_key(app, raw), value, raw))
        self.table.apply_changelog_batch(events)


def _bootstrap(app: faust.App) -> str:
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)


def preload(app: faust.App, tables: TableManager, actives: set[TP], *,
            timeout: float = READ_TIMEOUT) -> None:
    """Read the changelog partitions in `actives` whose table keeps a `Store` (blocking);
    every other partition is left to Faust."""
    by_topic: dict[str, Store] = {}
    for table in tables.values():
        store = table.data
        if isinstance(store, Store):
            store.loaded.clear()  # what an earlier rebalance read is no answer any more
            by_topic[table.changelog_topic.get_topic_name()] = store
    partitions = sorted((tp.topic, tp.partition) for tp in actives if tp.topic in by_topic)
    if not partitions:
        return
    started = time.monotonic()
    counts = dict.fromkeys(by_topic, 0)

    def apply(topic: str, messages: list[Message]) -> None:
        by_topic[topic].apply_records(messages)
        counts[topic] += len(messages)

    try:
        ends = read_to_end(_bootstrap(app), partitions, apply, timeout=timeout)
    except Exception as exc:  # Faust's own recovery reads them from the start instead
        log.warning("bulk read of %d changelog partitions failed after %d records, Faust "
                    "recovers them: %s", len(partitions), sum(counts.values()), exc)
        return
    for (topic, partition), end in ends.items():
        by_topic[topic].loaded[TP(topic, partition)] = end - 1  # Faust reads on after it
    log.info("read %d changelog records of %d partitions in %.2f s (%s)",
             sum(counts.values()), len(partitions), time.monotonic() - started,
             ", ".join(f"{topic}: {n}" for topic, n in sorted(counts.items()) if n))


_original_on_rebalance = Recovery.on_rebalance


async def _on_rebalance(self: Recovery, assigned: set[TP], revoked: set[TP],
                        newly_assigned: set[TP], generation_id: int = 0) -> None:
    # Faust's recovery asks each table where its copy ends as it adds the partition, from
    # a step it keeps on the loop; the bulk read runs first, on a thread, so heartbeats
    # and the web views go on meanwhile (a loop blocked for 25 s lost the group). Only
    # partitions new to this worker: one it kept is brought up to date by Faust from where
    # it read last, and reading it whole again could put back, over a value this worker
    # wrote whose changelog record is still on its way, the older one the log holds.
    await asyncio.to_thread(preload, self.app, self.tables,
                            set(self.app.assignor.assigned_actives()) & set(newly_assigned))
    await _original_on_rebalance(self, assigned, revoked, newly_assigned, generation_id)


def register() -> None:
    """Teach Faust the store's URL scheme and read its partitions in bulk (idempotent)."""
    stores.STORES.aliases.setdefault(SCHEME, f"{__name__}:Store")
    Recovery.on_rebalance = _on_rebalance  # type: ignore[method-assign]
