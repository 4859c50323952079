"""`GET /v1/feed` (Server-Sent Events) and `GET /v1/feed/widget` (an embeddable page).

The feed sends one ``lead`` event per newly ranked lead matching the subscription (cells, a
radius, or the buyer's own areas; the recommendation filters), and a ``removed`` event when
a lead it showed is sold or held by someone else. Event ids are Redis stream ids: a client
that reconnects with ``Last-Event-ID`` gets exactly what it missed. Premium buyers get a
lead at once, standard buyers after the priority window. Heartbeats (SSE comments) keep
proxies from closing an idle connection; each key may hold a bounded number of
connections across all API processes.

Publishable keys (``pk_…``) may call the feed and the widget from their allowed origins
only: a cross-origin request from any other origin is refused (403, no CORS headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse
from redis.exceptions import RedisError
from sse_starlette.sse import EventSourceResponse

from api.auth import Caller, require
from api.errors import ApiError, error_responses
from api.feed import FeedHub, Subscriber, catch_up, stream_id
from api.models import LeadPublic
from api.query import SelectionDep, buyer_for
from infra.market_view import FeedEntry, MarketView
from infra.metrics import FEED_CLIENTS, FEED_DELIVERY_SECONDS, FEED_EVENTS
from infra.settings import Settings
from streams.serve.decay import decayed
from streams.serve.recommend import OwnAreas, QueryError, query_cells

router = APIRouter(prefix="/v1/feed", tags=["feed"])

# Atomic across API processes: drop connections not refreshed lately, then take a slot.
_TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


def check_origin(request: Request, caller: Caller, origin: str | None) -> dict[str, str]:
    """CORS for publishable keys: the allowed origins only (and the API's own, where the
    widget runs). Headers to add to the answer."""
    if caller.key.kind != "publishable" or origin is None:
        return {}
    if origin == f"{request.url.scheme}://{request.url.netloc}":
        return {}
    if origin not in caller.key.origins:
        raise ApiError(403, "origin_not_allowed",
                       f"This feed key may not be used from {origin[:100]!r}.")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _event(entry: FeedEntry, settings: Settings, now_ms: int) -> dict[str, Any]:
    if entry.kind == "removed":
        data: dict[str, Any] = {"lead_id": entry.lead_id, "reason": entry.reason}
    else:
        card = entry.card
        assert card is not None
        score = decayed(card.score, card.created_ms, now_ms, settings.score_half_life_hours)
        data = LeadPublic.of(card, score, now_ms).model_dump()
    return {"id": entry.stream_id, "event": entry.kind, "data": json.dumps(data)}


@router.get(
    "",
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "An event stream: `lead` and `removed` events"},
               **error_responses(401, 403, 404, 422, 429, 503)},
    summary="Live feed of newly ranked leads (Server-Sent Events)",
)
async def feed(
    request: Request,
    caller: Annotated[Caller, Depends(require("feed"))],
    selected: SelectionDep,
    buyer_id: Annotated[str | None, Query(max_length=64, description="Admin keys only")] = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    origin: Annotated[str | None, Header(max_length=300)] = None,
) -> EventSourceResponse:
    settings: Settings = request.app.state.settings
    cors = check_origin(request, caller, origin)
    buyer = buyer_for(request, caller, buyer_id)
    area, filters = selected.area, selected.filters
    try:
        cells = (frozenset(buyer.cells_r7) if isinstance(area, OwnAreas)
                 else frozenset(query_cells(area, settings.reco_max_radius_km)))
    except QueryError as exc:
        raise ApiError(422, "bad_query", str(exc)) from None
    if last_event_id is not None:
        try:
            stream_id(last_event_id)
        except ValueError:
            raise ApiError(422, "bad_last_event_id",
                           "Last-Event-ID is not an id this feed sent.") from None
    window_ms = int(settings.priority_window_seconds * 1000)
    sub = Subscriber(buyer=buyer, area=area, filters=filters, cells=cells,
                     window_ms=window_ms, half_life_hours=settings.score_half_life_hours)
    hub: FeedHub = request.app.state.feed_hub
    view: MarketView = request.app.state.market_view
    slot = _Slot(request, caller.key.key_id, settings)
    if not await slot.take():
        raise ApiError(429, "too_many_connections",
                       f"This key already holds {settings.feed_max_connections_per_key} feed "
                       "connections; close one first.", headers={"Retry-After": "5"})
    # Register before reading the history, so nothing falls between the two.
    hub.register(sub)
    try:
        position = await asyncio.wait_for(hub.ready(), timeout=5)
        now_ms = int(time.time() * 1000)
        # A new standard subscriber starts a window back: the leads that become visible to
        # it while it is connected are the ones scored in the last window.
        start = last_event_id or (f"{now_ms - window_ms}-0" if not sub.premium else position)
        await catch_up(view, sub, start, position)
    except BaseException:
        hub.unregister(sub)
        await slot.release()
        raise

    async def events() -> AsyncIterator[dict[str, Any]]:
        FEED_CLIENTS.inc()
        try:
            while not sub.overflowed:
                now_ms = int(time.time() * 1000)
                for entry in sub.due(now_ms):
                    FEED_EVENTS.labels(entry.kind).inc()
                    if entry.kind == "lead" and entry.card is not None and sub.premium:
                        FEED_DELIVERY_SECONDS.observe(
                            max(0.0, now_ms - entry.card.scored_ms) / 1000)
                    yield _event(entry, settings, now_ms)
                await slot.refresh(now_ms)
                wake = sub.next_due_ms()
                timeout = settings.feed_heartbeat_seconds if wake is None else max(
                    0.0, min(settings.feed_heartbeat_seconds, (wake - now_ms) / 1000))
                try:
                    entry = await asyncio.wait_for(sub.queue.get(), timeout=timeout)
                except TimeoutError:
                    continue
                now_ms = int(time.time() * 1000)
                sub.accept(entry, now_ms)
                while not sub.queue.empty():
                    sub.accept(sub.queue.get_nowait(), now_ms)
        finally:
            FEED_CLIENTS.dec()
            hub.unregister(sub)
            await slot.release()

    # LF line ends: a CR/LF pair split across two network reads makes some clients (httpx)
    # see an empty line, i.e. an empty event, in the middle of a real one.
    return EventSourceResponse(events(), ping=settings.feed_heartbeat_seconds, sep="\n",
                               headers={"Cache-Control": "no-store", **cors})


class _Slot:
    """One of a key's bounded feed connections, shared by all API processes in Redis."""

    def __init__(self, request: Request, key_id: str, settings: Settings) -> None:
        self.client = request.app.state.redis
        self.key = f"{settings.topic_prefix}feedconn:{key_id}"
        self.member = uuid.uuid4().hex
        self.limit = settings.feed_max_connections_per_key
        self.stale_ms = int(settings.feed_heartbeat_seconds * 3000)
        self.refreshed_ms = 0

    async def take(self) -> bool:
        now_ms = int(time.time() * 1000)
        self.refreshed_ms = now_ms
        taken = await self.client.eval(_TAKE_SLOT, 1, self.key, now_ms - self.stale_ms, now_ms,
                                       self.limit, self.member, self.stale_ms * 2)
        return bool(taken)

    async def refresh(self, now_ms: int) -> None:
        if now_ms - self.refreshed_ms >= self.stale_ms // 3:
            self.refreshed_ms = now_ms
            await self.client.zadd(self.key, {self.member: now_ms})

    async def release(self) -> None:
        # Redis down at disconnect: the slot goes stale by itself.
        with contextlib.suppress(RedisError, OSError):
            await self.client.zrem(self.key, self.member)


@router.get("/widget", response_class=HTMLResponse, summary="Embeddable live-lead widget",
            responses=error_responses(401, 403, 429, 503))
async def widget(
    request: Request,
    caller: Annotated[Caller, Depends(require("feed"))],
    key: Annotated[str, Query(description="The publishable key (pk_…)")],
) -> HTMLResponse:
    """A self-contained page (no build step, nothing fetched from a CDN) showing the live
    public cards of the key's buyer. Embed it in an iframe; browsers refuse to frame it
    outside the key's allowed origins."""
    if caller.key.kind != "publishable":
        raise ApiError(403, "publishable_key_required",
                       "The widget takes a publishable feed key (pk_…), never a secret key.")
    page = files("api").joinpath("static/widget.html").read_text()
    page = page.replace("__FEED_KEY__", json.dumps(key)).replace(
        "__BUYER__", json.dumps(caller.buyer.name if caller.buyer else ""))
    ancestors = " ".join(caller.key.origins) or "'none'"
    return HTMLResponse(page, headers={
        "Content-Security-Policy": (f"default-src 'self'; script-src 'unsafe-inline'; "
                                    f"style-src 'unsafe-inline'; connect-src 'self'; "
                                    f"frame-ancestors 'self' {ancestors}"),
        "Cache-Control": "no-store"})
