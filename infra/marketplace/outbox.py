"""The relay from the Redis audit outbox to Kafka: `cart.events` (keyed by buyer), and what
the models learn from a sale or a return (`leads.outcomes`, `buyer.interactions`).

Every API process runs one relay in the consumer group ``relay`` of the outbox stream, so
each entry is relayed by one process; an entry is acknowledged and deleted only once Kafka
acknowledged all it produced (acks=all). A relay that died leaves its entries pending; the
others claim them after `CLAIM_IDLE_MS`. At-least-once: a repeat lands once, because the
entry id is the event id (`cart_events` is keyed by it; outcomes by lead, kind and time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from infra.kafka.producer import LeadProducer, ProduceFailed
from infra.marketplace.keys import TradeKeys
from infra.metrics import OUTBOX_RELAYED
from infra.settings import Settings
from schemas.cart import CartEvent
from schemas.codec import encode
from schemas.contract import BUYER_INTERACTIONS, CART_EVENTS, LEADS_OUTCOMES
from streams.trade.audit import interaction_of, outcome_of

log = logging.getLogger(__name__)

GROUP = "relay"
CLAIM_IDLE_MS = 30_000
_BATCH = 500


def cart_event(entry_id: str, fields: Mapping[bytes, bytes]) -> CartEvent:
    data = msgspec.json.decode(fields[b"e"])
    return msgspec.convert({**data, "event_id": entry_id}, CartEvent)


class OutboxRelay:
    def __init__(self, client: aioredis.Redis, keys: TradeKeys, producer: LeadProducer,
                 settings: Settings, brokerages: Mapping[str, str]) -> None:
        self.client = client
        self.keys = keys
        self.producer = producer
        self.settings = settings
        self.brokerages = brokerages  # buyer_id → brokerage_id, for interactions
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.relayed = 0

    async def run(self, stop: asyncio.Event, idle_s: float = 1.0) -> None:
        """Relay until `stop` is set (within `idle_s`); Redis or Kafka down only delays
        (entries wait)."""
        backoff = 0.5
        while not stop.is_set():
            try:
                await self._ensure_group()
                await self._claim_abandoned()
                pending = await self._read("0")  # ours, not yet acknowledged (a retry)
                fresh = pending or await self._read(">", block_ms=int(idle_s * 1000))
                if fresh:
                    await self._relay(fresh)
                backoff = 0.5
            except (RedisError, ProduceFailed, OSError) as exc:
                log.warning("audit relay waiting (%s); retrying in %.1fs", exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 10.0)

    async def _ensure_group(self) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self.client.xgroup_create(self.keys.outbox(), GROUP, id="0", mkstream=True)

    async def _claim_abandoned(self) -> None:
        await self.client.xautoclaim(self.keys.outbox(), GROUP, self.consumer,
                                     min_idle_time=CLAIM_IDLE_MS, count=_BATCH)

    async def _read(self, after: str, block_ms: int | None = None
                    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        found = await self.client.xreadgroup(GROUP, self.consumer, {self.keys.outbox(): after},
                                             count=_BATCH, block=block_ms)
        return [(i, f) for _, entries in found for i, f in entries if f]

    async def _relay(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        sends = []
        for entry_id, fields in entries:
            event = cart_event(entry_id.decode(), fields)
            buyer = event.buyer_id.encode()
            sends.append(self._send(CART_EVENTS, encode(event), buyer))
            outcome = outcome_of(event)
            if outcome is not None:
                sends.append(self._send(LEADS_OUTCOMES, encode(outcome), event.lead_id.encode()))
            interaction = interaction_of(event, self.brokerages.get(event.buyer_id, ""))
            if interaction is not None:
                sends.append(self._send(BUYER_INTERACTIONS, encode(interaction), buyer))
        await asyncio.gather(*sends)
        ids = [i for i, _ in entries]
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(self.keys.outbox(), GROUP, *ids)
            pipe.xdel(self.keys.outbox(), *ids)
            await pipe.execute()
        self.relayed += len(ids)
        OUTBOX_RELAYED.inc(len(ids))

    async def _send(self, name: str, value: bytes, key: bytes) -> None:
        await self.producer.send(self.settings.topic(name), value, key=key, headers=[])
