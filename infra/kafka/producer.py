"""The API's Kafka producer: one message in, awaited until the broker acknowledged it.

Contract: `LeadProducer(bootstrap)` does no I/O. `start()` connects and raises
`ProduceFailed` when no broker answers; the API starts it best-effort, so it also
connects lazily on the first `send`. `send(topic, value, key=, headers=)` returns
the record's `Delivery` once every in-sync replica has it (acks=all, idempotent),
or raises `ProduceFailed` within `timeout` seconds — never hangs, never raises
anything else. `stop()` flushes and closes.

Keys are partitioned with murmur2 (aiokafka's default), the same as Java clients,
Faust and `infra.kafka.admin.KEY_PARTITIONER`.

A `send` that timed out may still be delivered later: callers answer "try again",
and the deterministic `lead_id` makes the retry land once downstream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.errors import AIQLeadsError

log = logging.getLogger(__name__)


class ProduceFailed(AIQLeadsError):
    """Kafka did not acknowledge the message: unreachable, refused, or too slow."""


@dataclass(frozen=True, slots=True)
class Delivery:
    topic: str
    partition: int
    offset: int


class LeadProducer:
    def __init__(
        self,
        bootstrap: str,
        *,
        timeout: float = 5.0,
        reconnect_backoff: float = 1.0,
        linger_ms: int = 0,
        client_id: str = "aiqleads-api",
    ) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.reconnect_backoff = reconnect_backoff
        self.linger_ms = linger_ms
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._connecting = asyncio.Lock()
        self._last_failure = float("-inf")
        self._last_error = ""

    async def start(self) -> None:
        """Connect now (the first `send` would otherwise); `ProduceFailed` if Kafka is down."""
        await self._connected()

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), self.timeout)
            except (TimeoutError, KafkaError) as exc:
                log.warning("Kafka producer did not close cleanly: %s", exc)

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Delivery:
        """Produce one record and wait for the broker's acknowledgement."""
        started = time.monotonic()
        producer = await self._connected()
        remaining = max(self.timeout - (time.monotonic() - started), 0.001)
        try:
            return await asyncio.wait_for(
                self._deliver(producer, topic, value, key, headers), remaining
            )
        except TimeoutError as exc:
            raise ProduceFailed(
                f"Kafka did not acknowledge within {self.timeout:g} s"
            ) from exc
        except KafkaError as exc:
            raise ProduceFailed(f"Kafka refused the message: {exc}") from exc

    @staticmethod
    async def _deliver(
        producer: AIOKafkaProducer,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> Delivery:
        pending = await producer.send(topic, value, key=key, headers=headers)
        # A timed-out caller must not cancel the batch: the record may still go out, and
        # its outcome is retrieved so a late failure is not reported as "never retrieved".
        pending.add_done_callback(_retrieve)
        metadata = await asyncio.shield(pending)
        return Delivery(metadata.topic, metadata.partition, metadata.offset)

    async def _connected(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._connecting:
            if self._producer is not None:
                return self._producer
            # Kafka down: fail fast for a moment instead of every request dialling again.
            if time.monotonic() - self._last_failure < self.reconnect_backoff:
                raise ProduceFailed(f"no Kafka at {self.bootstrap}: {self._last_error}")
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                acks="all",
                enable_idempotence=True,
                # 0 by default: every caller waits for its ack, so lingering is pure latency;
                # records that arrive while a request is in flight are batched anyway.
                linger_ms=self.linger_ms,
                request_timeout_ms=int(self.timeout * 1000),
            )
            try:
                await asyncio.wait_for(producer.start(), self.timeout)
            except (TimeoutError, KafkaError, OSError) as exc:
                await _close_quietly(producer)
                self._last_failure = time.monotonic()
                self._last_error = str(exc) or type(exc).__name__
                raise ProduceFailed(f"no Kafka at {self.bootstrap}: {self._last_error}") from exc
            log.info("Kafka producer connected to %s", self.bootstrap)
            self._producer = producer
            return producer


def _retrieve(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


async def _close_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 1.0)
    except Exception:  # already failing; the connect error is the one worth reporting
        log.debug("closing a producer that never connected failed", exc_info=True)
