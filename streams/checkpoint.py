"""Checkpointable state: models and screens pickle whole, and refuse a foreign blob."""

from __future__ import annotations

import pickle
from typing import Self


class Pickled:
    """`dumps()` the whole object; `Cls.loads(blob)` gives it back or raises TypeError."""

    __slots__ = ()

    def dumps(self) -> bytes:
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def loads(cls, blob: bytes) -> Self:
        restored = pickle.loads(blob)
        if not isinstance(restored, cls):
            raise TypeError(f"not a {cls.__name__} checkpoint: {type(restored).__name__}")
        return restored
