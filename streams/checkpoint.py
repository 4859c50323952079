"""Checkpointable state: models and screens pickle whole, and refuse a foreign blob.

Pickles name classes by module path. `MOVED_MODULES` maps the paths of modules that
moved (the layout of 2026-12) to their homes now, so checkpoints written before a move
keep loading; add a line whenever a pickled class's module moves.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, Self

from streams.errors import AIQLeadsError

#: Old module path → new one, for classes inside checkpoints written before a move.
MOVED_MODULES: dict[str, str] = {
    "streams.arms": "streams.scoring.arms",
    "streams.model": "streams.scoring.model",
    "streams.explain": "streams.scoring.explain",
    "streams.fraud": "streams.fraud.screen",
    "streams.fraud_model": "streams.fraud.anomaly",
    "streams.fraud_rules": "streams.fraud.rules",
    "streams.reco": "streams.serve.recommender",
}


class CheckpointError(AIQLeadsError):
    """A checkpoint blob that cannot be restored: corrupt, foreign or of another class."""


class _MovedModulesUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(MOVED_MODULES.get(module, module), name)


def restore(blob: bytes) -> object:
    """Unpickle a checkpoint, following modules that moved since it was written."""
    return _MovedModulesUnpickler(io.BytesIO(blob)).load()


class Pickled:
    """`dumps()` the whole object; `Cls.loads(blob)` gives it back or raises CheckpointError."""

    __slots__ = ()

    def dumps(self) -> bytes:
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def loads(cls, blob: bytes) -> Self:
        try:
            restored = restore(blob)
        except Exception as exc:  # a torn or foreign blob can fail in many ways
            raise CheckpointError(f"not a readable {cls.__name__} checkpoint: {exc!r}") from exc
        if not isinstance(restored, cls):
            raise CheckpointError(f"not a {cls.__name__} checkpoint: {type(restored).__name__}")
        return restored
