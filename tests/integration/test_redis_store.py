"""The Redis rankings adapter against the real Redis: layout, replacement, removal, decay on read.

Every test works under its own key prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import h3.api.basic_int as h3
import msgspec
import pytest

from infra import redis_store
from infra.redis_store import RedisRankings
from schemas.lead import ScoredLead
from schemas.market import Buyer
from streams.serve.decay import MS_PER_HOUR
from streams.serve.ranking import SOLD, BuyerIndex, Placement, Removal, place, sort_key
from tests.integration.harness import SCAN_COUNT

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("AIQ_REDIS_URL", "redis://127.0.0.1:6379/0")
HALF_LIFE = 48.0
T0 = 1_770_000_000_000
HOME = (41.4993, -81.6944)
CELL = h3.latlng_to_cell(*HOME, 7)
INDEX = BuyerIndex([
    Buyer(buyer_id="buyer-0001", brokerage_id="brk-1", cells_r7=[CELL]),
    Buyer(buyer_id="buyer-0002", brokerage_id="brk-1", cells_r7=[CELL],
          property_types=["condo"], intents=["buy"]),
])


def lead(n: int, score: float = 0.2, hours: float = 0.0, **changes: object) -> ScoredLead:
    at = T0 + int(hours * MS_PER_HOUR)
    when = datetime.fromtimestamp(at / 1000, UTC)
    base = ScoredLead(
        lead_id=f"portal:{n}", source="portal", source_lead_id=str(n), event_time=when,
        received_time=when, first_name="Ada", email="ada@example.com", phone="+12165550123",
        intent="buy", property_type="single_family", price=250_000.0, city="Cleveland",
        state="OH", lat=HOME[0], lon=HOME[1], location_precision="exact", h3_r7=CELL,
        score=score, scored_ms=at)
    return msgspec.structs.replace(base, **changes)


def placed(n: int, score: float = 0.2, hours: float = 0.0, **changes: object) -> Placement:
    p = place(lead(n, score, hours, **changes), INDEX, None, HALF_LIFE)
    assert p is not None
    return p


@pytest.fixture
async def rankings() -> AsyncIterator[RedisRankings]:
    store = RedisRankings(REDIS_URL, prefix=f"t{uuid.uuid4().hex[:10]}:", ranking_size=3,
                          half_life_hours=HALF_LIFE, card_ttl_hours=1.0)
    await store.start()
    try:
        yield store
    finally:
        keys = [k async for k in store.client.scan_iter(match=f"{store.keys.prefix}*",
                                                        count=SCAN_COUNT)]
        if keys:
            await store.client.delete(*keys)
        await store.close()


async def apply(store: RedisRankings, ops: list[Placement | Removal]) -> None:
    await store.apply(ops, now_ms=T0)  # the leads' own clock: their ages are what the test says


async def members(store: RedisRankings, key: str) -> list[str]:
    return [m.decode() for m in await store.client.zrevrange(key, 0, -1)]


async def feed(store: RedisRankings) -> list[tuple[bytes, bytes]]:
    """(kind, lead id) of each feed entry, oldest first."""
    return [(fields[b"kind"], fields[b"lead_id"])
            for _, fields in await store.client.xrange(store.keys.all_feed())]


async def test_a_placed_lead_has_a_public_card_rankings_and_a_feed_entry(
    rankings: RedisRankings,
) -> None:
    await apply(rankings, [placed(1)])
    k, client = rankings.keys, rankings.client
    card = await client.get(k.card("portal:1"))
    assert card is not None
    assert b"Cleveland" in card
    assert b"ada@example.com" not in card and b"2165550123" not in card and b"Ada" not in card
    assert 0 < await client.ttl(k.card("portal:1")) <= 3600
    assert await members(rankings, k.cell_rank(CELL)) == ["portal:1"]
    assert await members(rankings, k.buyer_rank("buyer-0001")) == ["portal:1"]
    assert await members(rankings, k.buyer_rank("buyer-0002")) == ["portal:1"]
    assert k.cell_rank(CELL).endswith(h3.int_to_str(CELL))
    [(_, entry)] = await client.xrange(k.all_feed())
    assert entry[b"kind"] == b"lead" and entry[b"lead_id"] == b"portal:1"
    assert int(entry[b"cell"]) == CELL
    assert msgspec.json.decode(entry[b"card"]) == msgspec.json.decode(card)
    await apply(rankings, [placed(2)])
    assert await feed(rankings) == [(b"lead", b"portal:1"), (b"lead", b"portal:2")]
    assert await rankings.segments(["portal:1", "portal:404"]) == {
        "portal:1": placed(1).segment}


async def test_reads_return_cards_best_first_with_values_decayed_to_the_read_time(
    rankings: RedisRankings,
) -> None:
    # Lead 2 is worth twice lead 1 but one half-life older: they tie; lead 3 wins.
    await apply(rankings, [placed(1, 0.2, HALF_LIFE), placed(2, 0.4, 0.0), placed(3, 0.5, 24.0)])
    now = T0 + int(2 * HALF_LIFE * MS_PER_HOUR)
    top = await rankings.top_for_cell(CELL, 3, now_ms=now)
    assert top[0].card.lead_id == "portal:3"
    assert {r.card.lead_id for r in top[1:]} == {"portal:1", "portal:2"}
    assert top[0].value == pytest.approx(0.5 * 0.5 ** 1.5)
    assert top[0].score_now == pytest.approx(top[0].value)
    for ranked in top[1:]:
        assert ranked.value == pytest.approx(0.1)
    later = await rankings.top_for_cell(CELL, 3, now_ms=now + int(HALF_LIFE * MS_PER_HOUR))
    assert [r.card.lead_id for r in later] == [r.card.lead_id for r in top]
    assert later[0].value == pytest.approx(top[0].value / 2)
    # A buyer's ranking is by expected value: buyer-0002 wants condos (fit 0.15).
    mine = await rankings.top_for_buyer("buyer-0002", 1, now_ms=now)
    assert mine[0].value == pytest.approx(0.15 * top[0].value)
    assert mine[0].score_now == pytest.approx(top[0].value)


async def test_rankings_are_trimmed_to_size_and_reads_skip_expired_cards(
    rankings: RedisRankings,
) -> None:
    await apply(rankings, [placed(n, score=n / 10) for n in range(1, 6)])
    k = rankings.keys
    assert await members(rankings, k.cell_rank(CELL)) == ["portal:5", "portal:4", "portal:3"]
    await rankings.client.delete(k.card("portal:5"), k.card("portal:4"))  # as if expired
    top = await rankings.top_for_buyer("buyer-0001", 2, now_ms=T0)
    assert [r.card.lead_id for r in top] == ["portal:3"]


async def test_a_rescored_lead_replaces_its_entries_and_a_quarantined_one_leaves(
    rankings: RedisRankings,
) -> None:
    k = rankings.keys
    await apply(rankings, [placed(1)])
    await apply(rankings, [placed(1, score=0.3, intent="sell")])  # buyer-0002 drops out
    assert await rankings.client.zscore(k.cell_rank(CELL), "portal:1") == pytest.approx(
        sort_key(0.3, T0, HALF_LIFE))
    assert await members(rankings, k.buyer_rank("buyer-0002")) == []
    assert await members(rankings, k.buyer_rank("buyer-0001")) == ["portal:1"]
    assert await feed(rankings) == [(b"lead", b"portal:1")]  # the feed shows leads once
    await apply(rankings, [Removal("portal:1")])  # re-scored as quarantined
    assert await members(rankings, k.cell_rank(CELL)) == []
    assert await members(rankings, k.buyer_rank("buyer-0001")) == []
    assert await rankings.card("portal:1") is None
    await apply(rankings, [placed(1)])  # cleared on a later re-score: ranked again
    assert await members(rankings, k.cell_rank(CELL)) == ["portal:1"]


async def test_a_sold_lead_leaves_every_ranking_and_a_replay_does_not_bring_it_back(
    rankings: RedisRankings,
) -> None:
    k = rankings.keys
    await apply(rankings, [placed(1), placed(2), Removal("portal:1", SOLD)])
    await apply(rankings, [placed(1)])  # the scored lead consumed again after a restart
    for key in (k.cell_rank(CELL), k.buyer_rank("buyer-0001"), k.buyer_rank("buyer-0002")):
        assert await members(rankings, key) == ["portal:2"]
    assert await rankings.card("portal:1") is None
    assert await rankings.client.get(k.gone("portal:1")) == b"sold"


async def test_a_card_lives_its_ttl_from_the_leads_creation(rankings: RedisRankings) -> None:
    # The fixture's cards live an hour: a lead 40 minutes old has 20 left, a 2-hour-old one none.
    await apply(rankings, [placed(1, hours=-40 / 60), placed(2, hours=-2.0)])
    assert 1190 <= await rankings.client.ttl(rankings.keys.card("portal:1")) <= 1200
    assert await rankings.card("portal:2") is None
    assert await members(rankings, rankings.keys.cell_rank(CELL)) == ["portal:1"]
    assert 3590 <= await rankings.client.ttl(rankings.keys.cell_rank(CELL)) <= 3600


async def test_lost_scripts_are_reloaded(rankings: RedisRankings) -> None:
    rankings._place_sha = "0" * 40  # as after a Redis restart: the server knows no such script
    await apply(rankings, [placed(1)])
    assert await members(rankings, rankings.keys.cell_rank(CELL)) == ["portal:1"]


async def test_many_leads_go_through_in_several_pipelines(rankings: RedisRankings) -> None:
    rankings.batch_size = 7
    rankings.ranking_size = 50
    await apply(rankings, [placed(n, score=0.5 + n / 1000) for n in range(40)])
    top = await rankings.top_for_cell(CELL, 50, now_ms=T0)
    assert [r.card.lead_id for r in top] == [f"portal:{n}" for n in range(39, -1, -1)]


async def test_one_apply_keeps_its_ops_in_order_across_script_calls(
    rankings: RedisRankings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_store, "PLACEMENTS_PER_CALL", 2)  # calls of 2, 1 and 2 leads
    k = rankings.keys
    await apply(rankings, [placed(1), placed(1, score=0.3, intent="sell"), placed(2),
                           Removal("portal:2"), placed(3, score=0.4), placed(2, score=0.1)])
    assert await members(rankings, k.cell_rank(CELL)) == ["portal:3", "portal:1", "portal:2"]
    assert await rankings.client.zscore(k.cell_rank(CELL), "portal:1") == pytest.approx(
        sort_key(0.3, T0, HALF_LIFE))  # the re-score, placed after the first in one call
    assert "portal:1" not in await members(rankings, k.buyer_rank("buyer-0002"))
    # Lead 1 once (re-scored in place); lead 2 again after its removal took it off the market.
    assert await feed(rankings) == [(b"lead", b"portal:1"), (b"lead", b"portal:2"),
                                    (b"removed", b"portal:2"), (b"lead", b"portal:3"),
                                    (b"lead", b"portal:2")]
