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

import logging
from collections.abc import Sequence

import faust

from infra.settings import Settings
from streams.features.store import Persistent

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0


class WriteBehind:
    """One store behind one table: `restore()` once recovered, `flush()` on a timer."""

    def __init__(self, table: faust.types.TableT, store: Persistent) -> None:
        self.table = table
        self.store = store
        self.restored = False

    def restore(self) -> None:
        """Load the whole table into the store (idempotent; call before the first event)."""
        if self.restored:
            return
        for key, value in self.table.items():
            self.store.restore(key, value)
        self.restored = True
        log.info("restored %d keys of %s", len(self.table), self.table.name)

    def flush(self) -> int:
        keys = self.store.take_dirty()
        for key in keys:
            value = self.store.export(key)
            if value is None:
                self.table.pop(key, None)
            else:
                self.table[key] = value
        return len(keys)


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
            behind.flush()

    @app.on_before_shutdown.connect
    def final_flush(app: faust.App, **_: object) -> None:
        if behind.restored:
            behind.flush()

    return behind
