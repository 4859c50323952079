"""`aiqleads buyers`: simulated buyers act on scored leads, live, for the demo and tests.

Contract: consumes ``leads.scored`` in its own consumer group
(``<prefix><app_id>-buyers``, from the latest offset unless ``from_start``), plays the
bundled (or ``buyers_file``) buyers through `streams.traffic.buyers.simulate_interactions`
with the lead's ``score`` as the buyers' belief of p (the true p is hidden from them),
and sends each `BuyerInteraction` to ``buyer.interactions`` keyed by ``buyer_id`` when it
falls due: its offset from the lead's ``scored_ms`` divided by ``speedup``. The sent
``occurred_ms`` is the wall clock at sending, so market windows see current events.
A lead_id is acted on once (re-scored leads are ignored; memory bounded by
``remember``). Every batch is simulated with the same ``seed``, so each buyer's hidden
taste stays the same all run (`streams.traffic.buyers.taste`), and one random stream,
so batches do not repeat each other's draws. Undecodable values are
logged and skipped. Ctrl-C or SIGTERM stops the run, flushes the producer and drops
interactions not yet due (reported as pending).
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import msgspec
from confluent_kafka import Consumer, KafkaError, Message, Producer

from infra.demo.produce import _stop_on_signals, producer_config
from infra.kafka.admin import ensure_topics
from infra.settings import Settings
from schemas.codec import encode, scored_lead_decoder
from schemas.lead import ScoredLead
from schemas.market import BuyerInteraction
from streams.serve.ranking import BuyerIndex, load_buyers
from streams.traffic.buyers import simulate_interactions

__all__ = ["BuyersSummary", "SeenIds", "due_in_seconds", "run_buyers"]

log = logging.getLogger(__name__)

_POLL_MAX_S = 0.2  # the longest we block in librdkafka: keeps Ctrl-C and due sends prompt
_BATCH = 500
_FLUSH_TIMEOUT_S = 30.0


def due_in_seconds(interaction: BuyerInteraction, scored_ms: int, speedup: float) -> float:
    """Seconds after the lead arrived that `interaction` is sent, its simulated delay sped up.

    >>> due_in_seconds(BuyerInteraction(buyer_id="b", lead_id="l", kind="view",
    ...                                 occurred_ms=600_000), 0, 60.0)
    10.0
    """
    return max(0, interaction.occurred_ms - scored_ms) / 1000.0 / speedup


class SeenIds:
    """The last `capacity` lead ids: `first_time` is True once per id while it is remembered."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, lead_id: str) -> bool:
        if lead_id in self._ids:
            return False
        self._ids[lead_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True


@dataclass
class BuyersSummary:
    leads: int = 0
    repeated: int = 0  # re-scored leads not acted on again
    undecodable: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # interactions by kind
    pending: int = 0  # not yet due when the run stopped
    failed: int = 0

    def render(self) -> str:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(self.sent.items())) or "none"
        return (f"leads {self.leads:,} (repeated {self.repeated:,}, undecodable "
                f"{self.undecodable:,}); interactions sent: {kinds}; pending {self.pending:,}, "
                f"failed {self.failed:,}")


def _consumer_config(settings: Settings, group_id: str, from_start: bool) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group_id,
        "auto.offset.reset": "earliest" if from_start else "latest",
        "enable.auto.commit": True,  # a demo: a lost batch on a crash is fine
        "logger": logging.getLogger("librdkafka"),
    }


def run_buyers(settings: Settings, *, seed: int, speedup: float, stop_after: float | None = None,
               group_id: str | None = None, from_start: bool = False,
               remember: int = 1_000_000) -> BuyersSummary:
    """Play the buyers until stopped (or for `stop_after` seconds); returns what was sent."""
    if speedup <= 0:
        raise ValueError("speedup must be positive")
    summary = BuyersSummary()
    index = BuyerIndex(load_buyers(settings.buyers_file))
    dice = random.Random(seed)  # one stream for the run: batch after batch draws afresh
    seen = SeenIds(remember)
    out_topic = settings.topic("buyer.interactions")
    # (due on the monotonic clock, sequence, interaction)
    due: list[tuple[float, int, BuyerInteraction]] = []
    seq = 0

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            summary.failed += 1
            log.warning("%s: %s", msg.topic(), err.str())

    def send_due() -> None:
        now = time.monotonic()
        while due and due[0][0] <= now:
            interaction = msgspec.structs.replace(heapq.heappop(due)[2],
                                                  occurred_ms=int(time.time() * 1000))
            while True:
                try:
                    producer.produce(out_topic, encode(interaction), interaction.buyer_id.encode())
                    break
                except BufferError:  # the local queue is full: let librdkafka deliver first
                    producer.poll(0.05)
            summary.sent[interaction.kind] += 1

    def decoded(msg: Message) -> ScoredLead | None:
        if msg.error() is not None:
            if msg.error().code() != KafkaError._PARTITION_EOF:
                log.warning("consume: %s", msg.error().str())
            return None
        try:
            lead = scored_lead_decoder.decode(msg.value() or b"")
        except msgspec.DecodeError as exc:  # ValidationError is a subclass
            summary.undecodable += 1
            log.warning("skipping %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), exc)
            return None
        if not seen.first_time(lead.lead_id):
            summary.repeated += 1
            return None
        summary.leads += 1
        return lead

    with _stop_on_signals() as stop:
        ensure_topics(settings)
        producer = Producer({**producer_config(settings), "client.id": "aiqleads-buyers",
                             "on_delivery": on_delivery})
        consumer = Consumer(_consumer_config(
            settings, group_id or f"{settings.topic_prefix}{settings.app_id}-buyers", from_start))
        consumer.subscribe([settings.topic("leads.scored")])
        deadline = None if stop_after is None else time.monotonic() + stop_after
        try:
            while not stop.requested and (deadline is None or time.monotonic() < deadline):
                wait = _POLL_MAX_S if not due else min(_POLL_MAX_S, due[0][0] - time.monotonic())
                leads = [lead for msg in consumer.consume(_BATCH, max(0.0, wait))
                         if (lead := decoded(msg)) is not None]
                arrived = time.monotonic()
                scored = {lead.lead_id: lead.scored_ms for lead in leads}
                for interaction in simulate_interactions(
                        ((lead, lead.score) for lead in leads), index, seed=seed, rng=dice):
                    seq += 1
                    at = arrived + due_in_seconds(interaction, scored[interaction.lead_id],
                                                  speedup)
                    heapq.heappush(due, (at, seq, interaction))
                send_due()
                producer.poll(0)
        finally:
            summary.pending = len(due)
            consumer.close()
            remaining = producer.flush(_FLUSH_TIMEOUT_S)
            summary.failed += remaining
    return summary
