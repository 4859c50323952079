"""`Changelogged`: a table's changelog written through a batch producer, in Faust's own bytes.

If the bytes differed from what Faust writes, recovery (Faust's, unchanged) would restore
other keys or fail to decode: so each record is compared with Faust's own serialisation
of the same key and value, and decoded back with Faust's own deserialiser.
"""

from __future__ import annotations

from typing import Any

import faust
import pytest

from agents.persist import Changelogged


@pytest.fixture
def table() -> faust.types.TableT:
    app = faust.App("persist-test", broker="kafka://127.0.0.1:1", store="memory://")
    return app.Table("things", key_type=str, partitions=4, use_partitioner=True)


def test_records_are_faust_bytes_and_memory_is_faust_memory(table: faust.types.TableT) -> None:
    sent: list[tuple[Any, ...]] = []
    mapping = Changelogged(table, lambda *record: sent.append(record))
    values = {"e:ann@example.com|8a2a1072b59ffff": "portal:1@1700000000000",
              "cell:872a1072b": {"n": 3.0, "mean": 0.25}, "k:é": [1, 2.5, "x"]}
    for key, value in values.items():
        mapping[key] = value
    mapping.set("pinned", 1.5, partition=3)
    del mapping["k:é"]

    topic = table.changelog_topic
    assert {r[0] for r in sent} == {topic.get_topic_name()}
    for (_, value_bytes, key_bytes, _, partition), (key, value) in zip(sent, values.items(),
                                                                        strict=False):
        assert key_bytes == topic.prepare_key(key, None)[0]
        assert value_bytes == topic.prepare_value(value, None)[0]
        assert partition == -1  # the producer's murmur2 of the key, like use_partitioner
        loads_key = table.app.serializers.loads_key
        loads_value = table.app.serializers.loads_value
        assert loads_key(table.key_type, key_bytes, serializer=table.key_serializer) == key
        assert loads_value(table.value_type, value_bytes,
                           serializer=table.value_serializer) == value
    assert sent[3][4] == 3
    tombstone = sent[4]
    assert tombstone[1] is None and tombstone[2] == topic.prepare_key("k:é", None)[0]
    # Reads see the writes through Faust's own table.
    assert table["cell:872a1072b"] == {"n": 3.0, "mean": 0.25} and "k:é" not in table
    assert len(mapping) == 3 and mapping.get("missing") is None
    # ...and the other way: what Faust's recovery puts in its store, even after a reset.
    table.data["recovered"] = "portal:2@1700000000001"
    assert mapping.get("recovered") == "portal:2@1700000000001"
    table.data._clear()  # what Faust does to a store it recovers from scratch
    table.data["again"] = 1
    assert mapping.get("again") == 1 and len(mapping) == 1


class _Store:
    """A store whose values the test changes while a flush is between slices."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.dirty: list[str] = []

    def put(self, key: str, value: Any) -> None:
        self.values[key] = value
        self.dirty.append(key)

    def take_dirty(self) -> list[str]:
        dirty, self.dirty = self.dirty, []
        return dirty

    def export(self, key: str) -> Any | None:
        return self.values.get(key)

    def restore(self, key: str, value: Any) -> None:
        self.values[key] = value


def test_a_flush_in_slices_writes_each_keys_latest_value_and_lets_the_loop_run() -> None:
    import asyncio

    from agents.persist import FLUSH_YIELD_EVERY, WriteBehind

    store, table = _Store(), {"gone": 1}
    behind = WriteBehind(table, store)  # type: ignore[arg-type]
    keys = [f"k{i}" for i in range(FLUSH_YIELD_EVERY * 2 + 5)]
    for key in keys:
        store.put(key, 0)
    store.put("gone", None)  # exported as None: deleted from the table
    ran_between: list[int] = []

    async def meanwhile() -> None:
        await asyncio.sleep(0)
        ran_between.append(len(table))  # the flush has written one slice, not all
        store.put(keys[-1], 7)  # changed before its slice: the table gets 7

    async def scenario() -> int:
        other = asyncio.ensure_future(meanwhile())
        written = await behind.flush()
        await other
        return written

    assert asyncio.run(scenario()) == len(keys) + 1
    assert 0 < ran_between[0] < len(keys)
    assert table == {**{key: 0 for key in keys[:-1]}, keys[-1]: 7}
    assert store.take_dirty() == [keys[-1]]  # and the next flush writes it again


def test_a_table_behind_a_store_keeps_keys_not_values(table: faust.types.TableT) -> None:
    from agents.persist import WRITTEN, WriteBehind

    table.data["old"] = {"ev": [1, 2]}  # recovered from the changelog
    table.data["older"] = {"ev": [3]}
    store = _Store()
    behind = WriteBehind(table, store)  # type: ignore[arg-type]
    sent: list[tuple[Any, ...]] = []
    behind.changelog_through(lambda *record: sent.append(record))
    behind.restore()
    assert store.values == {"old": {"ev": [1, 2]}, "older": {"ev": [3]}}
    assert dict(table.data) == {"old": WRITTEN, "older": WRITTEN}  # the store has them

    store.put("new", {"ev": [4]})
    store.put("older", None)  # the store forgot it: the changelog gets a tombstone
    assert behind.flush_now() == 2
    assert dict(table.data) == {"old": WRITTEN, "new": WRITTEN}
    topic = table.changelog_topic
    assert [(r[1], r[2]) for r in sent] == [
        (topic.prepare_value({"ev": [4]}, None)[0], topic.prepare_key("new", None)[0]),
        (None, topic.prepare_key("older", None)[0]),
    ]
