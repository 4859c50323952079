"""Write-behind persistence of in-memory feature stores into changelogged Faust tables.

Writing a table key per lead costs a changelog send per lead (about as much as
consuming the lead). Stores instead mark keys dirty and a timer flushes them
about once a second, so a hot cell costs one changelog record per second, not
one per lead. A crash loses at most that second of feature state (rolling
counts and averages, not leads), which replay partly re-counts.

The tables use the producer's partitioner (`use_partitioner=True`): their keys
(cells, contacts) are not co-partitioned with any input topic, and a timer has
no current event whose partition could be borrowed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container, Iterator, MutableMapping, Sequence
from typing import Any, Protocol

import faust
import orjson

from infra.settings import Settings
from streams.features.store import Persistent

log = logging.getLogger(__name__)

# Every 5 s instead writes ~1 changelog record a lead fewer (cells and areas coalesce) and
# drained 1-5 % faster, but each flush then holds ~5x the keys: paced at 1,100/s, p99
# produce -> Redis 514-1,103 ms against 217-278 at 1 s (BENCHMARKS.md, 2026-12-07).
FLUSH_SECONDS = 1.0
SWEEP_YIELD_EVERY = 5_000  # keys looked at between yields to the event loop
FLUSH_YIELD_EVERY = 1_000  # keys written between yields (~5 ms)


#: What a table behind a store holds for each key it has (`Changelogged(keep_values=False)`).
WRITTEN = True

#: Queue one changelog record: topic, value (None deletes), key, headers, partition (-1: by key).
Produce = Callable[[str, "bytes | None", "bytes | None", Any, int], None]


class Changelogged(MutableMapping[str, Any]):
    """A Faust table's memory, its changelog written through a batch producer.

    Faust's own `table[key] = value` sends each changelog record through its Python
    producer stack (`Topic.send_soon`, ~40 µs a key measured in the worker: two thirds of
    the raw → scored loop's time went there); here a record is one librdkafka `produce`
    (a few µs), queued in C and flushed with the batch's other outputs before its offsets
    are committed. The bytes are what Faust writes and recovers from (its JSON codec for
    keys and values, `tests/unit/agents/test_persist.py` checks it), so recovery is
    Faust's own, unchanged. By default the partition is the producer's murmur2 of the
    serialised key, as for a `use_partitioner=True` table; `set(..., partition=)` pins it
    (a table co-partitioned with the topic whose event wrote it).

    `keep_values=False` is for a table behind a store (`WriteBehind`), where the store is
    the memory: the table then remembers only which keys it has (for their tombstones),
    not a second copy of every value written. Those copies were fresh containers every
    flush that lived until the key's next one, most of what the collector's young passes
    walked in a worker (30-110 ms a pass; BENCHMARKS.md).
    """

    def __init__(self, table: faust.types.TableT, produce: Produce, *,
                 keep_values: bool = True) -> None:
        self.table = table
        self.keep_values = keep_values
        # The store Faust recovers into and reads from. The memory store keeps a plain dict
        # (never replaced, only cleared): read that, as the store's own `get` raises and
        # catches a KeyError on every miss (~1.5 µs; dedupe looks up seven keys per contact
        # and record, mostly misses: 5 % of a worker's time in the profile).
        raw = getattr(table.data, "data", None)
        self.data = raw if type(raw) is dict else table.data
        self.topic = table.changelog_topic.get_topic_name()
        self.produce = produce

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def set(self, key: str, value: Any, partition: int = -1) -> None:
        self.data[key] = value if self.keep_values else WRITTEN
        self.produce(self.topic, orjson.dumps(value), orjson.dumps(key), None, partition)

    def __delitem__(self, key: str) -> None:
        self.delete(key)

    def delete(self, key: str, partition: int = -1) -> None:
        del self.data[key]
        self.produce(self.topic, None, orjson.dumps(key), None, partition)

    def forget(self, key: str) -> None:
        """Drop `key` from this worker's memory only; the changelog keeps it."""
        self.data.pop(key, None)

    def forget_values(self) -> None:
        """Keep only the keys in memory (`keep_values=False`: the store has the values)."""
        data = self.data
        for key in data:
            data[key] = WRITTEN

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def name(self) -> str:
        return self.table.name


class SweptTable(Protocol):
    """What `sweep` needs of a table (`Changelogged`)."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def delete(self, key: str, partition: int = -1) -> None: ...
    def forget(self, key: str) -> None: ...
    def __iter__(self) -> Iterator[str]: ...


async def sweep(table: SweptTable, spent: Callable[[str, Any], bool], *,
                partition_of: Callable[[str], int], owned: Container[int]) -> int:
    """Forget every key of `table` whose value is `spent`; how many tombstones it wrote.

    Runs on a timer, outside any event. A key of a changelog partition this worker owns
    is deleted through the changelog; any other key is a copy the worker wrote or kept
    from before a rebalance, and is only dropped from memory: its owner decides, and a
    tombstone from here could land after the owner's newer value.
    """
    gone = 0
    for looked, key in enumerate(list(table), 1):
        if looked % SWEEP_YIELD_EVERY == 0:
            await asyncio.sleep(0)  # a big sweep must not stall the agents
        # Read after any yield: an agent may have replaced the value meanwhile.
        value = table.get(key)
        if value is None or not spent(key, value):
            continue
        partition = partition_of(key)
        if partition in owned:
            table.delete(key, partition)
            gone += 1
        else:
            table.forget(key)
    return gone


class WriteBehind:
    """One store behind one table: `restore()` once recovered, `flush()` on a timer."""

    def __init__(self, table: faust.types.TableT, store: Persistent) -> None:
        self.table = table
        self.store = store
        self.restored = False
        self._target: MutableMapping[str, Any] = table

    def changelog_through(self, produce: Produce) -> None:
        """Write the changelog through a batch producer instead of Faust's (see above); the
        table's memory then keeps keys only, once the store has restored their values."""
        self._target = Changelogged(self.table, produce, keep_values=False)

    def restore(self) -> None:
        """Load the whole table into the store (idempotent; call before the first event)."""
        if self.restored:
            return
        for key, value in self.table.items():
            self.store.restore(key, value)
        if isinstance(self._target, Changelogged):
            self._target.forget_values()  # the store has them now
        self.restored = True
        log.info("restored %d keys of %s", len(self.table), self.table.name)

    async def flush(self) -> int:
        """Write every key dirtied since the last flush; yields to the event loop every
        `FLUSH_YIELD_EVERY` keys (a second of a busy store is thousands of keys, 40-80 ms
        of the loop in one step: every lead in flight waited for it)."""
        keys = self.store.take_dirty()
        for start in range(0, len(keys), FLUSH_YIELD_EVERY):
            if start:
                await asyncio.sleep(0)
            self._write(keys[start:start + FLUSH_YIELD_EVERY])
        return len(keys)

    def flush_now(self) -> int:
        """`flush` in one step (at shutdown, when nothing else runs)."""
        keys = self.store.take_dirty()
        self._write(keys)
        return len(keys)

    def _write(self, keys: Sequence[str]) -> None:
        target = self._target
        for key in keys:
            # Read at write time: a lead between two slices may have changed it again.
            value = self.store.export(key)
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value


def restore_all(behinds: Sequence[WriteBehind]) -> None:
    """Restore every store that is not yet (cheap once done: call it before each event)."""
    for behind in behinds:
        if not behind.restored:
            behind.restore()


def restore_when_recovered(app: faust.App, behinds: Sequence[WriteBehind]) -> None:
    """Restore the stores as soon as Faust's table recovery completes.

    Faust holds back every event until then, so an agent that also calls `restore_all`
    before its first event can never see a store that missed its table.
    """

    @app.task
    async def restore_recovered_stores() -> None:
        await app.tables.recovery.completed.wait()
        restore_all(behinds)


def persisted(
    app: faust.App, settings: Settings, name: str, store: Persistent, help: str
) -> WriteBehind:
    """Declare the table for `store` and the timer that flushes it; the caller restores it."""
    table = app.Table(name, key_type=str, partitions=settings.topic_partitions,
                      use_partitioner=True, help=help)
    behind = WriteBehind(table, store)

    @app.timer(FLUSH_SECONDS, name=f"flush_{name}")
    async def flush() -> None:
        if behind.restored:  # never overwrite the table with a cold store
            await behind.flush()

    @app.on_before_shutdown.connect
    def final_flush(app: faust.App, **_: object) -> None:
        if behind.restored:
            behind.flush_now()

    return behind
