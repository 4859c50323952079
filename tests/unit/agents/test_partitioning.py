"""Table changelog partitions computed without producer metadata, as the producer would."""

from __future__ import annotations

import faust
from aiokafka.partitioner import DefaultPartitioner

from agents.partitioning import key_partition, pin_partitions


def test_the_same_partition_as_the_producers_partitioner() -> None:
    partitions = list(range(4))
    for key in (b"", b"e:ann@example.com|613229523", b"p:+17324409777|0", "lead-é".encode()):
        assert key_partition(key, 4) == DefaultPartitioner()(key, partitions, partitions)


def test_a_pinned_table_needs_no_metadata() -> None:
    # Regression (E2): right after a start or a broker restart the producer had no metadata
    # for the changelog topic, and a write raised TypeError inside score_leads.
    app = faust.App("pin-test", broker="kafka://127.0.0.1:1", store="memory://")
    table = pin_partitions(app.Table("first_lead_by_contact", key_type=str, partitions=4,
                                     use_partitioner=True), 4)
    key = "e:ann@example.com|613229523"
    assert table.partition_for_key(key) == key_partition(key.encode(), 4)
