"""Fast seeded draws for the traffic generator: `random.Random` through its cheapest method.

`Random.choices` and `randrange` cost 3-6 µs a call in pure Python; the
generator makes ~25 draws an event, so these helpers use `random()` alone
(still fully determined by the seed).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


def below(rng: random.Random, n: int) -> int:
    """An int in [0, n)."""
    return int(rng.random() * n)


def between(rng: random.Random, low: int, high: int) -> int:
    """An int in [low, high], both ends included."""
    return low + int(rng.random() * (high - low + 1))


def pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


class Weighted(Generic[T]):
    """A fixed weighted choice, the cumulative weights built once."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, items: Sequence[tuple[T, float]]) -> None:
        self._items = tuple(item for item, _ in items)
        self._cum = tuple(itertools.accumulate(weight for _, weight in items))
        self._total = self._cum[-1]

    def __call__(self, rng: random.Random) -> T:
        i = bisect.bisect_right(self._cum, rng.random() * self._total)
        return self._items[min(i, len(self._items) - 1)]
