"""Warehouse failures: one root, a subclass per way it fails.

The land agent retries any `WarehouseError` with backoff; `aiqleads sql` prints it.
"""

from __future__ import annotations

from streams.errors import AIQLeadsError


class WarehouseError(AIQLeadsError):
    """Root of every warehouse failure."""


class WarehouseUnavailable(WarehouseError):
    """The server cannot be reached, or the embedded path cannot be opened."""


class WarehouseNotStarted(WarehouseError):
    """A call before `start()` (or after `close()`)."""


class QueryFailed(WarehouseError):
    """The engine rejected a statement (bad SQL, unknown table, type mismatch)."""
