"""A steady stream from all five sources into one run's raw topics, counting acknowledgements.

The producer is the way a careful source produces: `acks=all`, idempotent, retrying for
minutes, so a broker restart delays deliveries instead of failing them. Every event's fate is
recorded from its delivery report: a scenario expects exactly the acknowledged ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from confluent_kafka import Producer

from infra.kafka.admin import KEY_PARTITIONER
from infra.settings import Settings
from schemas.codec import encode
from schemas.contract import LEADS_OUTCOMES, SOURCES, raw_topic
from schemas.outcome import Outcome
from streams.traffic.generator import GeneratedEvent, generate
from tests.e2e.counts import Produced


def all_sources(count: int, seed: int, malformed_share: float = 0.03) -> list[GeneratedEvent]:
    return generate(count, sources=SOURCES, seed=seed, malformed_share=malformed_share)


class SteadyStream:
    """Produce `events` at `rate` a second on a thread; `join()` waits for every report."""

    def __init__(self, settings: Settings, events: Sequence[GeneratedEvent], rate: float,
                 outcome_every: int = 0) -> None:
        self.settings = settings
        self.events = list(events)
        self.rate = rate
        # An outcome for every n-th valid lead, sent right after it: often it reaches the
        # learner before the lead's snapshot does, so both sides of the join get exercised.
        self.outcome_every = outcome_every
        self.outcomes_acked: set[str] = set()
        self.acked: list[GeneratedEvent] = []
        self.failed: list[tuple[GeneratedEvent, str]] = []
        self.sent = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="steady-stream", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> SteadyStream:
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, seconds: float) -> None:
        """Wait up to `seconds`, less if the stream ends first."""
        self._thread.join(seconds)

    def join(self, timeout: float = 600.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the producer did not finish"
        if self._error is not None:
            raise self._error

    @property
    def acknowledged(self) -> Produced:
        with self._lock:
            return Produced.of(self.acked)

    def _run(self) -> None:
        try:
            self._produce()
        except BaseException as exc:  # reported by join()
            self._error = exc

    def _produce(self) -> None:
        producer = Producer({
            "bootstrap.servers": self.settings.kafka_bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 300_000,  # ride out a broker restart
            "partitioner": KEY_PARTITIONER,
            "log_level": 3,
        })

        def report(event: GeneratedEvent) -> Callable[[object, object], None]:
            def delivered(err: object, _msg: object) -> None:
                with self._lock:
                    if err is None:
                        self.acked.append(event)
                    else:
                        self.failed.append((event, str(err)))
            return delivered

        started = time.monotonic()
        for i, event in enumerate(self.events):
            while True:
                try:
                    producer.produce(self.settings.topic(raw_topic(event.source)), event.value,
                                     key=event.key, headers=list(event.headers.items()),
                                     on_delivery=report(event))
                    break
                except BufferError:  # the local queue is full while the broker is away
                    producer.poll(0.1)
            self.sent = i + 1
            if self.outcome_every and event.valid and event.lead_id and i % self.outcome_every == 0:
                self._produce_outcome(producer, event.lead_id, converted=i % 3 == 0)
            producer.poll(0)
            ahead = started + (i + 1) / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        remaining = producer.flush(320)
        assert remaining == 0, f"{remaining} events never got a delivery report"

    def _produce_outcome(self, producer: Producer, lead_id: str, *, converted: bool) -> None:
        outcome = Outcome(lead_id=lead_id, kind="purchase" if converted else "no_conversion",
                          occurred_ms=int(time.time() * 1000))

        def delivered(err: object, _msg: object) -> None:
            if err is None:
                with self._lock:
                    self.outcomes_acked.add(lead_id)

        while True:
            try:
                producer.produce(self.settings.topic(LEADS_OUTCOMES), encode(outcome),
                                 key=lead_id.encode(), on_delivery=delivered)
                return
            except BufferError:
                producer.poll(0.1)
