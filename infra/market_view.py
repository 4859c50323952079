"""The marketplace API's reads of what the serve agent keeps in Redis (layout: `redis_store`).

Every read is a fixed number of round trips, whatever the number of leads: rankings are
read with one pipeline, cards and their hold/sold state with one MGET each.

- `cells(cells)`: the cards ranked in these res-7 cells (each ranking holds at most
  `ranking_size` leads), with no value: the caller ranks them for its buyer.
- `buyer(buyer_id, now_ms)`: the buyer's own ranking with each lead's expected value
  decayed to `now_ms`.
- `unavailable(lead_ids, buyer_id)`: which of the leads are sold or held by someone else
  now (held by `buyer_id` itself does not count).
- `feed_after(after, count)` / `feed_wait(after, count, block_ms)`: entries of the global
  feed stream after a stream id, as `FeedEntry` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import msgspec
import redis.asyncio as aioredis

from infra.redis_store import KeyLayout
from streams.serve.ranking import LeadCard, value_at

_card_decoder = msgspec.json.Decoder(LeadCard)


class FeedEntry(NamedTuple):
    stream_id: str
    kind: str  # "lead" or "removed"
    lead_id: str
    cell: int  # the lead's res-7 cell (0 when unknown)
    card: LeadCard | None  # on "lead"
    reason: str  # on "removed": sold, held, withdrawn…
    by: str = ""  # on a hold: the buyer holding it


def holder_of(hold_value: bytes | str) -> str:
    """The buyer id in a ``{buyer_id}|{token}|{expires_ms}`` hold value."""
    text = hold_value.decode() if isinstance(hold_value, bytes) else hold_value
    return text.split("|", 1)[0]


def _entry(entry_id: bytes, fields: dict[bytes, bytes]) -> FeedEntry:
    kind = fields.get(b"kind", b"lead").decode()
    card = _card_decoder.decode(fields[b"card"]) if b"card" in fields else None
    cell = fields.get(b"cell")
    return FeedEntry(entry_id.decode(), kind, fields[b"lead_id"].decode(),
                     int(cell) if cell else 0, card, fields.get(b"reason", b"").decode(),
                     fields.get(b"by", b"").decode())


class MarketView:
    def __init__(self, client: aioredis.Redis, keys: KeyLayout, half_life_hours: float) -> None:
        self.client = client
        self.keys = keys
        self.half_life_hours = half_life_hours

    async def cells(self, cells: Sequence[int]) -> list[LeadCard]:
        if not cells:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for cell in cells:
                pipe.zrevrange(self.keys.cell_rank(cell), 0, -1)
            rankings = await pipe.execute()
        ids = list(dict.fromkeys(m.decode() for members in rankings for m in members))
        return [card for card in await self.cards(ids) if card is not None]

    async def buyer(self, buyer_id: str, now_ms: int) -> list[tuple[LeadCard, float]]:
        members = await self.client.zrevrange(self.keys.buyer_rank(buyer_id), 0, -1,
                                              withscores=True)
        cards = await self.cards([m.decode() for m, _ in members])
        return [(card, value_at(key, now_ms, self.half_life_hours))
                for (_, key), card in zip(members, cards, strict=True) if card is not None]

    async def cards(self, lead_ids: Sequence[str]) -> list[LeadCard | None]:
        if not lead_ids:
            return []
        raw = await self.client.mget([self.keys.card(i) for i in lead_ids])
        return [None if r is None else _card_decoder.decode(r) for r in raw]

    async def unavailable(self, lead_ids: Sequence[str], buyer_id: str = "") -> set[str]:
        if not lead_ids:
            return set()
        keys = [self.keys.gone(i) for i in lead_ids] + [self.keys.hold(i) for i in lead_ids]
        values = await self.client.mget(keys)
        gone, held = values[:len(lead_ids)], values[len(lead_ids):]
        return {lead_id for lead_id, sold, hold in zip(lead_ids, gone, held, strict=True)
                if sold is not None or (hold is not None and holder_of(hold) != buyer_id)}

    async def feed_after(self, after: str, count: int) -> list[FeedEntry]:
        entries = await self.client.xrange(self.keys.all_feed(), min=f"({after}", count=count)
        return [_entry(i, f) for i, f in entries]

    async def feed_wait(self, after: str, count: int, block_ms: int) -> list[FeedEntry]:
        found = await self.client.xread({self.keys.all_feed(): after}, count=count,
                                        block=block_ms)
        return [_entry(i, f) for _, entries in found for i, f in entries]

    async def feed_head(self) -> str:
        """The newest stream id ("0-0" for an empty feed): where a new subscriber starts."""
        last = await self.client.xrevrange(self.keys.all_feed(), count=1)
        return last[0][0].decode() if last else "0-0"
