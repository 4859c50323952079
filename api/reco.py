"""Recommendations served from Redis through a short-lived response cache.

A query's whole ranked list is computed from the Redis rankings (never ClickHouse or
Faust tables) and kept `ttl_s` in this process, so repeated reads and the pages after the
first cost one Redis round trip: the check that none of the leads about to be served has
been sold or held since (`MarketView.unavailable`). A lead found gone is dropped from the
cached list at once (the tombstone invalidates it), and the page is filled from the next
ones, so the cache never serves a sold or held lead as available.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from infra.market_view import MarketView
from infra.metrics import RECO_CACHE
from schemas.market import Buyer
from streams.serve.recommend import (
    Area,
    Cursor,
    Filters,
    OwnAreas,
    Ranked,
    after_cursor,
    query_cells,
    rank,
)

MAX_ENTRIES = 10_000
_HIT, _MISS = RECO_CACHE.labels("hit"), RECO_CACHE.labels("miss")


@dataclass
class _Entry:
    computed_ms: int
    items: list[Ranked]
    cells: int


class Recommendations:
    def __init__(self, view: MarketView, *, ttl_s: float, half_life_hours: float,
                 window_ms: int, max_radius_km: float) -> None:
        self.view = view
        self.ttl_ms = int(ttl_s * 1000)
        self.half_life_hours = half_life_hours
        self.window_ms = window_ms
        self.max_radius_km = max_radius_km
        self._cache: OrderedDict[tuple[object, ...], _Entry] = OrderedDict()

    async def page(self, buyer: Buyer, area: Area, filters: Filters, limit: int,
                   cursor: Cursor | None) -> tuple[list[Ranked], bool, int, int]:
        """(the page's items, whether more follow, cells covered, the time their values
        are decayed to: the caller brings them to its own read time)."""
        now_ms = int(time.time() * 1000)
        key = (buyer.buyer_id, area, filters)
        entry = self._cache.get(key)
        if entry is not None and now_ms - entry.computed_ms <= self.ttl_ms:
            _HIT.inc()
            self._cache.move_to_end(key)
        else:
            _MISS.inc()
            entry = await self._compute(buyer, area, filters, now_ms)
            self._cache[key] = entry
            if len(self._cache) > MAX_ENTRIES:
                self._cache.popitem(last=False)
        items = entry.items
        if cursor is not None:
            items = after_cursor(items, cursor, entry.computed_ms, self.half_life_hours)
        page: list[Ranked] = []
        offset = 0
        while len(page) < limit and offset < len(items):
            chunk = items[offset:offset + limit - len(page)]
            offset += len(chunk)
            gone = await self.view.unavailable([r.card.lead_id for r in chunk], buyer.buyer_id)
            if gone:
                entry.items = [r for r in entry.items if r.card.lead_id not in gone]
            page += [r for r in chunk if r.card.lead_id not in gone]
        return page, offset < len(items), entry.cells, entry.computed_ms

    async def _compute(self, buyer: Buyer, area: Area, filters: Filters, now_ms: int) -> _Entry:
        if isinstance(area, OwnAreas):
            candidates = [(card, value) for card, value in
                          await self.view.buyer(buyer.buyer_id, now_ms)]
            cells = len(buyer.cells_r7)
        else:
            covered = query_cells(area, self.max_radius_km)
            cards = await self.view.cells(covered)
            candidates = [(card, None) for card in cards]
            cells = len(covered)
        ranked = rank(candidates, buyer, area, filters, now_ms, self.half_life_hours,
                      self.window_ms)
        return _Entry(now_ms, ranked, cells)
