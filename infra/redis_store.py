"""Rankings in Redis: what the serve agent writes and the API reads.

Key layout (every key starts with ``prefix``; ``{r7}`` is the H3 res-7 cell in its
standard hex form, e.g. ``872a1072bffffff``):

- ``lead:{lead_id}`` — the lead's public card (`streams.serve.ranking.LeadCard`, JSON). It
  lives ``card_ttl`` from the lead's *creation* (its event time), so a lead consumed
  late (a replay, a backlog) expires when it would have; a lead already older than
  ``card_ttl`` is not ranked at all. No contact details: those are revealed by
  purchase, not by ranking.
- ``rank:cell:{r7}`` — ZSET of lead ids by the time-invariant sort key of the score
  (`streams.serve.ranking.sort_key`); ``rank:buyer:{buyer_id}`` — the same by expected value
  for that buyer. Each is trimmed to ``ranking_size`` on every write and expires
  ``card_ttl`` after its last write (a quiet cell empties itself).
- ``feed:all`` — one Redis Stream of every feed event, ``MAXLEN ~ feed_stream_maxlen``: a
  newly ranked lead (``kind=lead``, ``lead_id``, ``cell`` (the r7 cell in decimal),
  ``card``) and a lead leaving the market (``kind=removed``, ``lead_id``, ``cell``,
  ``reason``: sold, held, withdrawn…; ``by``: the holder, for a hold).
  The API's live feed follows it, filtering by cell; a stream id is the SSE event id, so
  a client resumes with ``Last-Event-ID``. One stream, not one more a cell: until 2026-12
  each placement also went to a per-cell stream nothing read, a second copy of the card
  in the fsynced append-only file (a fifth of its bytes a lead).
- ``hold:{lead_id}`` — the current hold (value ``{buyer_id}|{token}|{expires_ms}``), with
  the hold's TTL; written by the marketplace API. Held leads are not offered to others.
- ``contact:{lead_id}`` — the lead's contact details (`LeadContact`, JSON), beside the card
  with its lifetime; read only by a sale, which copies them into the buyer's order.
- ``seg:{lead_id}`` — the lead's recommender segment, read when buyers interact with it
  (internal, never served); ``placed:{lead_id}`` — SET of the ranking keys holding the
  lead, so it can be taken out of all of them; ``gone:{lead_id}`` — a tombstone for a
  sold lead (value: the reason), so a replayed scored lead is not ranked again.

Writes: `apply(ops)` runs `Placement`s and `Removal`s in order: consecutive placements
go up to `PLACEMENTS_PER_CALL` to one Lua script call, a removal is a call of its own
(a script runs whole: a lead is never half-placed), ``batch_size`` ops a round trip.
Placing a lead first takes it out of the rankings it was in, so a re-scored lead replaces
its entries; every op is idempotent, so at-least-once replays are harmless.

Reads (`top_for_buyer`, `top_for_cell`, `card`; the API builds one with
``RedisRankings.from_settings(settings, client=app.state.redis)``, no `start()` needed
to read) return cards with the value *decayed to the read time*
(`streams.serve.ranking.value_at`); members whose card has expired or gone are skipped.

No I/O in ``__init__``: `start()` connects and loads the scripts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import NamedTuple

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from infra.redis_client import connect
from infra.settings import Settings
from streams.serve.decay import decayed
from streams.serve.ranking import LeadCard, Placement, Removal, value_at

log = logging.getLogger(__name__)

_PLACE = """
-- Many placements in one call, in order. KEYS: the all-leads feed, then for each lead:
-- gone, card, seg, placed, cell rank, contact, buyer ranks...
-- ARGV: ranking size, ranking ttl s, all-feed maxlen, then for each lead:
-- buyer ranks (n), lead_id, card json, segment, lead ttl s, cell key, cell (decimal),
-- contact json ('' = none), n buyer keys.
local size, keep, all_len = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local all_feed = KEYS[1]
local placed, k, a = 0, 2, 4
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  local id, card, ttl = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 4])
  local placed_key = KEYS[k + 3]
  if redis.call('EXISTS', KEYS[k]) == 0 then
    local before = redis.call('SMEMBERS', placed_key)
    for _, key in ipairs(before) do redis.call('ZREM', key, id) end
    if #before > 0 then redis.call('DEL', placed_key) end
    redis.call('SET', KEYS[k + 1], card, 'EX', ttl)
    redis.call('SET', KEYS[k + 2], ARGV[a + 3], 'EX', ttl)
    if ARGV[a + 7] ~= '' then redis.call('SET', KEYS[k + 5], ARGV[a + 7], 'EX', ttl) end
    local ranks = {KEYS[k + 4]}
    redis.call('ZADD', KEYS[k + 4], ARGV[a + 5], id)
    for i = 1, n do
      ranks[i + 1] = KEYS[k + 5 + i]
      redis.call('ZADD', KEYS[k + 5 + i], ARGV[a + 7 + i], id)
    end
    for _, key in ipairs(ranks) do
      redis.call('ZREMRANGEBYRANK', key, 0, -(size + 1))
      redis.call('EXPIRE', key, keep)
    end
    redis.call('SADD', placed_key, unpack(ranks))
    redis.call('EXPIRE', placed_key, ttl)
    if #before == 0 then
      redis.call('XADD', all_feed, 'MAXLEN', '~', all_len, '*', 'kind', 'lead', 'lead_id', id,
                 'cell', ARGV[a + 6], 'card', card)
    end
    placed = placed + 1
  end
  k, a = k + 6 + n, a + 8 + n
end
return placed
"""

_REMOVE = """
-- KEYS: gone, card, placed, all feed, contact;  ARGV: lead_id, tombstone reason ('' = none),
-- ttl s, all-feed maxlen
redis.call('DEL', KEYS[5])
local placed = redis.call('SMEMBERS', KEYS[3])
for _, key in ipairs(placed) do redis.call('ZREM', key, ARGV[1]) end
local card = redis.call('GET', KEYS[2])
local had_card = redis.call('DEL', KEYS[2])
-- The digits as written: a 64-bit cell would lose precision as a Lua number.
local cell = card and string.match(card, '"h3_r7":(%d+)') or '0'
redis.call('DEL', KEYS[3])
if ARGV[2] ~= '' then redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3])) end
if had_card == 1 or #placed > 0 then
  local reason = ARGV[2] ~= '' and ARGV[2] or 'withdrawn'
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'kind', 'removed',
             'lead_id', ARGV[1], 'cell', cell, 'reason', reason)
end
return 1
"""

# Placements a script call: Redis appends a call's writes to its append-only file, and
# (`appendfsync always`) syncs it, once a turn of its event loop, and a turn reads 16 KB of
# a pipeline, ~15 one-lead calls: the syncs were a third of Redis's CPU a lead. One call
# for 100 holds Redis ~4 ms, which requests from the API wait behind.
PLACEMENTS_PER_CALL = 100

_card_decoder = msgspec.json.Decoder(LeadCard)
_encode = msgspec.json.Encoder().encode


class RankedLead(NamedTuple):
    card: LeadCard
    value: float  # the ranking's value (score or expected value), decayed to the read time
    score_now: float  # the lead's score, decayed to the read time


class KeyLayout:
    """Key names under one prefix (tests and several deployments can share a Redis)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def card(self, lead_id: str) -> str:
        return f"{self.prefix}lead:{lead_id}"

    def segment(self, lead_id: str) -> str:
        return f"{self.prefix}seg:{lead_id}"

    def placed(self, lead_id: str) -> str:
        return f"{self.prefix}placed:{lead_id}"

    def gone(self, lead_id: str) -> str:
        return f"{self.prefix}gone:{lead_id}"

    def cell_rank(self, h3_r7: int) -> str:
        return f"{self.prefix}rank:cell:{h3_r7:x}"

    def buyer_rank(self, buyer_id: str) -> str:
        return f"{self.prefix}rank:buyer:{buyer_id}"

    def all_feed(self) -> str:
        return f"{self.prefix}feed:all"

    def contact(self, lead_id: str) -> str:
        return f"{self.prefix}contact:{lead_id}"

    def hold(self, lead_id: str) -> str:
        return f"{self.prefix}hold:{lead_id}"


class RedisRankings:
    """The serve agent's writer and the API's reader of lead rankings."""

    def __init__(self, url: str = "redis://localhost:6379/0", *, prefix: str = "",
                 card_ttl_hours: float = 72.0, ranking_size: int = 200,
                 half_life_hours: float = 48.0,
                 batch_size: int = 500, feed_stream_maxlen: int = 100_000,
                 client: aioredis.Redis | None = None) -> None:
        self.url = url
        self.keys = KeyLayout(prefix)
        self.card_ttl_s = max(1, int(card_ttl_hours * 3600))
        self.ranking_size = ranking_size
        self.feed_stream_maxlen = feed_stream_maxlen
        self.half_life_hours = half_life_hours
        self.batch_size = batch_size
        self._client = client
        self._owns_client = client is None
        self._place_sha = ""
        self._remove_sha = ""

    @classmethod
    def from_settings(cls, settings: Settings, client: aioredis.Redis | None = None,
                      prefix: str | None = None) -> RedisRankings:
        """Configured from settings; the key prefix defaults to the topic prefix."""
        return cls(settings.redis_url,
                   prefix=settings.topic_prefix if prefix is None else prefix,
                   card_ttl_hours=settings.lead_card_ttl_hours,
                   ranking_size=settings.ranking_size,
                   half_life_hours=settings.score_half_life_hours,
                   feed_stream_maxlen=settings.feed_stream_maxlen, client=client)

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise RuntimeError("RedisRankings used before start()")
        return self._client

    async def start(self) -> None:
        """Connect (unless given a client) and load the scripts. Idempotent."""
        if self._client is None:
            self._client = connect(self.url, reconnect=False)  # serving retries itself
        await self._load_scripts()

    async def close(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    async def _load_scripts(self) -> None:
        self._place_sha = await self.client.script_load(_PLACE)
        self._remove_sha = await self.client.script_load(_REMOVE)

    # Writes

    async def apply(self, ops: Sequence[Placement | Removal], now_ms: int | None = None) -> None:
        """Run placements and removals in order, `batch_size` to a pipeline; `now_ms`
        (default: now) dates the placements' remaining lifetime."""
        if not self._place_sha:
            await self.start()
        now = int(time.time() * 1000) if now_ms is None else now_ms
        for start in range(0, len(ops), self.batch_size):
            chunk = ops[start:start + self.batch_size]
            try:
                await self._pipeline(chunk, now)
            except NoScriptError:
                # Redis restarted (or SCRIPT FLUSH): reload and redo; every op is idempotent.
                log.warning("Redis lost the ranking scripts; reloading")
                await self._load_scripts()
                await self._pipeline(chunk, now)

    async def _pipeline(self, ops: Sequence[Placement | Removal], now_ms: int) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            placing: list[Placement] = []
            for op in ops:
                if isinstance(op, Removal):
                    self._place(pipe, placing, now_ms)  # in order: what came before first
                    placing = []
                    self._remove(pipe, op)
                else:
                    placing.append(op)
                    if len(placing) == PLACEMENTS_PER_CALL:
                        self._place(pipe, placing, now_ms)
                        placing = []
            self._place(pipe, placing, now_ms)
            await pipe.execute()

    def _place(self, pipe: aioredis.client.Pipeline, placements: Sequence[Placement],
               now_ms: int) -> None:
        k = self.keys
        keys: list[str] = [k.all_feed()]
        args: list[str | bytes | float | int] = [
            self.ranking_size, self.card_ttl_s, self.feed_stream_maxlen]
        for p in placements:
            ttl_s = min(self.card_ttl_s, self.card_ttl_s - (now_ms - p.card.created_ms) // 1000)
            if ttl_s <= 0:
                continue  # older than a card lives: nothing to rank
            keys += (k.gone(p.lead_id), k.card(p.lead_id), k.segment(p.lead_id),
                     k.placed(p.lead_id), k.cell_rank(p.h3_r7), k.contact(p.lead_id))
            args += (len(p.buyer_keys), p.lead_id, _encode(p.card), p.segment, ttl_s,
                     p.cell_key, str(p.h3_r7), b"" if p.contact is None else _encode(p.contact))
            for buyer_id, key in p.buyer_keys:
                keys.append(k.buyer_rank(buyer_id))
                args.append(key)
        if len(args) > 3:
            pipe.evalsha(self._place_sha, len(keys), *keys, *args)

    def _remove(self, pipe: aioredis.client.Pipeline, r: Removal) -> None:
        k = self.keys
        pipe.evalsha(self._remove_sha, 5, k.gone(r.lead_id), k.card(r.lead_id),
                     k.placed(r.lead_id), k.all_feed(), k.contact(r.lead_id), r.lead_id,
                     r.tombstone, self.card_ttl_s, self.feed_stream_maxlen)

    # Reads

    async def segments(self, lead_ids: Sequence[str]) -> dict[str, str]:
        """The recommender segments of still-known leads (one round trip)."""
        if not lead_ids:
            return {}
        values = await self.client.mget([self.keys.segment(i) for i in lead_ids])
        return {i: v.decode() for i, v in zip(lead_ids, values, strict=True) if v is not None}

    async def card(self, lead_id: str) -> LeadCard | None:
        raw = await self.client.get(self.keys.card(lead_id))
        return None if raw is None else _card_decoder.decode(raw)

    async def top_for_buyer(self, buyer_id: str, n: int, now_ms: int | None = None
                            ) -> list[RankedLead]:
        """The buyer's best `n` leads by expected value, decayed to `now_ms` (default: now)."""
        return await self._top(self.keys.buyer_rank(buyer_id), n, now_ms)

    async def top_for_cell(self, h3_r7: int, n: int, now_ms: int | None = None
                           ) -> list[RankedLead]:
        """The cell's best `n` leads by score, decayed to `now_ms` (default: now)."""
        return await self._top(self.keys.cell_rank(h3_r7), n, now_ms)

    async def _top(self, key: str, n: int, now_ms: int | None) -> list[RankedLead]:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        found: list[RankedLead] = []
        start, page = 0, max(2 * n, 10)  # over-fetch: some members' cards may have expired
        while len(found) < n:
            members = await self.client.zrevrange(key, start, start + page - 1, withscores=True)
            if not members:
                break
            cards = await self.client.mget([self.keys.card(m.decode()) for m, _ in members])
            for (_, sort_key), raw in zip(members, cards, strict=True):
                if raw is None:
                    continue
                card = _card_decoder.decode(raw)
                found.append(RankedLead(
                    card=card,
                    value=value_at(sort_key, now, self.half_life_hours),
                    score_now=decayed(card.score, card.created_ms, now, self.half_life_hours),
                ))
                if len(found) == n:
                    break
            start += page
        return found
