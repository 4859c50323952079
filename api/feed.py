"""The live feed: one reader of the global Redis feed stream per API process, fanned out to
every SSE subscriber whose cells the event falls in.

- `FeedHub.run()` follows ``feed:all`` with a blocking XREAD and hands each entry to the
  subscribers of its res-7 cell (an index from cell to subscribers, so an event costs
  nothing for the others); removals go to every subscriber, which forwards them only for
  leads it showed (or drops the lead from its pending queue).
- A `Subscriber` keeps what it must still send in stream order: a standard buyer's lead
  waits in `pending` until its priority window has passed. Its queue is bounded: a client
  too slow to keep up is disconnected, and resumes with ``Last-Event-ID`` (the stream keeps
  the history), so nothing is lost and nothing repeats.
- Resuming: a subscriber registers first, then reads the stream from its last id up to
  what the hub has seen (`catch_up`), and skips any live entry it already sent.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from infra.market_view import FeedEntry, MarketView
from schemas.market import Buyer
from streams.serve.recommend import Area, Filters, in_area, passes

log = logging.getLogger(__name__)

QUEUE_LIMIT = 5_000
SHOWN_LIMIT = 20_000  # lead ids a subscriber remembers showing, for removals
READ_COUNT = 1_000
BLOCK_MS = 1_000


def stream_id(text: str) -> tuple[int, int]:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass(eq=False)
class Subscriber:
    """One SSE connection's view of the stream.

    Every entry it accepts waits in `pending` until due: at once for premium buyers, the
    priority window after it entered the stream for standard ones, removals included, so
    events leave in stream order and a resume from the last id sent misses nothing. A lead
    removed before it was due is never sent; a removal is sent for leads this connection
    showed (and, while catching up after a resume, for every lead of its cells).
    """

    buyer: Buyer
    area: Area
    filters: Filters
    cells: frozenset[int]
    window_ms: int
    half_life_hours: float
    last_id: tuple[int, int] = (0, 0)
    queue: asyncio.Queue[FeedEntry] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    pending: list[tuple[int, tuple[int, int], FeedEntry]] = field(default_factory=list)
    shown: OrderedDict[str, None] = field(default_factory=OrderedDict)
    removed: OrderedDict[str, None] = field(default_factory=OrderedDict)
    overflowed: bool = False
    catching_up: bool = False

    @property
    def premium(self) -> bool:
        return self.buyer.tier == "premium"

    def offer(self, entry: FeedEntry) -> None:
        """From the hub (no awaiting): keep the entry for the connection's loop."""
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.overflowed = True

    def accept(self, entry: FeedEntry, now_ms: int) -> None:
        """Take one stream entry in; what is to be sent comes out of `due`."""
        sid = stream_id(entry.stream_id)
        if sid <= self.last_id:
            return
        self.last_id = sid
        if entry.kind == "removed":
            if entry.cell and entry.cell not in self.cells:
                return
            if entry.by and entry.by == self.buyer.buyer_id:
                return  # the holder keeps seeing its own hold
            _remember(self.removed, entry.lead_id)
            if entry.lead_id not in self.shown and not self.catching_up:
                return
        else:
            card = entry.card
            if card is None or card.h3_r7 not in self.cells or not in_area(card, self.area):
                return
            if not passes(card, self.filters, now_ms, self.half_life_hours):
                return
            # Back on the market (a hold released or run out): shown again when due.
            self.removed.pop(entry.lead_id, None)
        delay = 0 if self.premium else self.window_ms
        heapq.heappush(self.pending, (sid[0] + delay, sid, entry))

    def due(self, now_ms: int) -> list[FeedEntry]:
        out = []
        while self.pending and self.pending[0][0] <= now_ms:
            entry = heapq.heappop(self.pending)[2]
            if entry.kind == "lead":
                if entry.lead_id in self.removed:
                    continue
                _remember(self.shown, entry.lead_id)
            else:
                self.shown.pop(entry.lead_id, None)
            out.append(entry)
        return out

    def next_due_ms(self) -> int | None:
        return self.pending[0][0] if self.pending else None


def _remember(ids: OrderedDict[str, None], lead_id: str) -> None:
    ids[lead_id] = None
    if len(ids) > SHOWN_LIMIT:
        ids.popitem(last=False)


class FeedHub:
    def __init__(self, view: MarketView) -> None:
        self.view = view
        self.position = "0-0"
        self._by_cell: dict[int, set[Subscriber]] = {}
        self._all: set[Subscriber] = set()
        self._started = asyncio.Event()

    def register(self, sub: Subscriber) -> None:
        self._all.add(sub)
        for cell in sub.cells:
            self._by_cell.setdefault(cell, set()).add(sub)

    def unregister(self, sub: Subscriber) -> None:
        self._all.discard(sub)
        for cell in sub.cells:
            subs = self._by_cell.get(cell)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_cell[cell]

    @property
    def subscribers(self) -> int:
        return len(self._all)

    async def ready(self) -> str:
        await self._started.wait()
        return self.position

    def dispatch(self, entries: Iterable[FeedEntry]) -> None:
        for entry in entries:
            self.position = entry.stream_id
            targets: Iterable[Subscriber] = (
                self._by_cell.get(entry.cell, ()) if entry.cell else self._all)
            for sub in tuple(targets):
                sub.offer(entry)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Follow the stream until `stop` is set (within one blocking read) or cancelled;
        Redis outages are waited out."""
        backoff = 0.5
        while stop is None or not stop.is_set():
            try:
                if not self._started.is_set():
                    self.position = await self.view.feed_head()
                    self._started.set()
                entries = await self.view.feed_wait(self.position, READ_COUNT, BLOCK_MS)
                backoff = 0.5
            except (RedisError, OSError) as exc:
                log.warning("live feed: Redis unavailable (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self.dispatch(entries)


async def catch_up(view: MarketView, sub: Subscriber, after: str, until: str) -> None:
    """Feed the subscriber the stream entries after `after` up to `until` (inclusive)."""
    limit = stream_id(until)
    cursor = after
    sub.catching_up = True
    try:
        while stream_id(cursor) < limit:
            entries = await view.feed_after(cursor, READ_COUNT)
            if not entries:
                break
            now_ms = int(time.time() * 1000)
            for entry in entries:
                if stream_id(entry.stream_id) > limit:
                    return
                sub.accept(entry, now_ms)
            cursor = entries[-1].stream_id
    finally:
        sub.catching_up = False
