"""Changelog partitions of key-partitioned tables, computed without the producer's metadata.

A table made with `use_partitioner=True` (its keys are not the keys of the event being
processed, or it is written outside any event) lets Faust ask the producer for the key's
partition *synchronously*, and aiokafka answers from its metadata cache. Right after a start,
and after a broker restart invalidated the cache, the changelog topic is not in it:
`partitions_for_topic` is None, the write raises `TypeError`, and in `score_leads` the lead
being deduplicated became an internal-error dead letter. The E2 fault scenario saw 1,061
valid leads dead-lettered that way across six broker restarts (and the first webform lead
after a start, now and then, without any fault).

`pin_partitions(table, partitions)` computes the partition the producer would have chosen
(murmur2 of the serialized key, as aiokafka's DefaultPartitioner and the Java client do)
from the partition count we create every topic with, so the mapping of existing changelogs
is unchanged and no metadata is needed.
"""

from __future__ import annotations

from typing import Any

import faust
from aiokafka.partitioner import murmur2


def key_partition(key: bytes, partitions: int) -> int:
    """The partition murmur2 assigns `key` among `partitions` (Kafka's default for keys)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def pin_partitions(table: faust.Table, partitions: int) -> faust.Table:
    """Make `table` compute its changelog partitions itself (see the module docstring)."""
    topic = table.changelog_topic

    def partition_for_key(key: Any) -> int:
        serialized, _ = topic.prepare_key(key, None)
        return key_partition(serialized, partitions)

    table.partition_for_key = partition_for_key  # type: ignore[method-assign]
    return table
