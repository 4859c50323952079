"""`aiqleads produce`: synthetic lead traffic (and later the leads' outcomes) into Kafka.

Contract: lead events go to ``leads.raw.<source>`` keyed by the source's own id
(no key when the event has none), with the event's own headers (``x-partner-id``,
``content-type`` for web forms) plus ``x-source``. Each valid
lead's outcome goes to ``leads.outcomes`` keyed by ``lead_id`` after an
exponential delay (mean ``outcome_delay`` seconds). With ``engagement``, the
person behind each lead also browses, saves, opens mail and calls
(`streams.traffic.engagement`): those events go to ``engagement.events`` keyed by
contact, just before the lead; outcomes not yet due when
the leads are all sent are waited for, so a run ends with every outcome sent
unless it is stopped (Ctrl-C or SIGTERM: the run stops sending, flushes what
it sent, and reports the outcomes it left pending). The returned
`ProduceSummary` says what was sent and what each event should become; its
manifest lets tests and benchmarks reconcile the pipeline's output against it.
"""

from __future__ import annotations

import heapq
import logging
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import Any

import click
from confluent_kafka import KafkaError, Message, Producer

from infra.kafka.admin import KEY_PARTITIONER, KafkaUnavailable, ensure_topics
from infra.settings import Settings
from schemas.codec import encode
from schemas.contract import SOURCE_HEADER
from schemas.outcome import Outcome
from streams.traffic.engagement import ENGAGEMENT_SEED_SALT, engagement_for, engagement_key
from streams.traffic.generator import GeneratedEvent, TrafficGenerator
from streams.traffic.pace import TokenBucket
from streams.traffic.summary import ProduceSummary

__all__ = ["ProduceSummary", "produce", "producer_config"]

log = logging.getLogger(__name__)

_POLL_MAX_S = 0.2  # the longest we block in librdkafka: keeps Ctrl-C and outcomes prompt
_FLUSH_TIMEOUT_S = 30.0


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": "aiqleads-produce",
        "acks": "all",
        "partitioner": KEY_PARTITIONER,  # outcomes must land where Faust expects the lead
        "enable.idempotence": True,  # broker retries must not duplicate leads
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 200_000,
        "message.timeout.ms": 60_000,
        # Reports for failures only: a Python callback per delivered message costs more
        # than making the event. Delivered = handed over - failed, once flushed.
        "delivery.report.only.error": True,
        # librdkafka's own log lines through `logging` (served by poll) instead of raw stderr.
        "logger": logging.getLogger("librdkafka"),
    }


_NO_HEADERS: Mapping[str, str] = {}


class _Stop:
    """Set by Ctrl-C or SIGTERM: `aiqleads run` stops its traffic process with SIGTERM."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        log.info("stopping on signal %d: flushing what was sent", signum)
        self.requested = True


@contextmanager
def _stop_on_signals() -> Iterator[_Stop]:
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be set from the main thread
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Progress:
    """A line every `every` seconds: a live stderr line on a terminal, a log line elsewhere."""

    def __init__(self, every: float, started: float) -> None:
        self.every = every
        self.tty = sys.stderr.isatty()
        self._started = started
        self._next = started + every
        self._last_events = 0
        self._last_at = started

    def maybe(self, summary: ProduceSummary, pending: int, in_flight: int) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every
        recent = (summary.events - self._last_events) / max(now - self._last_at, 1e-9)
        self._last_events, self._last_at = summary.events, now
        line = (
            f"{now - self._started:6.0f} s: sent {summary.events:,} events ({recent:,.0f}/s), "
            f"outcomes {summary.outcomes_sent:,} sent / {pending:,} pending, "
            f"in flight {in_flight:,}, failed {summary.failed:,}"
        )
        if self.tty:
            sys.stderr.write(f"\r{line}\x1b[K")
            sys.stderr.flush()
        else:
            log.info("%s", line)

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


class _Run:
    """One produce run: the producer, the outcome heap, the counters."""

    def __init__(
        self,
        producer: Producer,
        generator: TrafficGenerator,
        summary: ProduceSummary,
        outcome_delay: float | None,
        engagement_topic: str | None = None,
    ) -> None:
        self.producer = producer
        self.generator = generator
        self.summary = summary
        self.outcome_delay = outcome_delay
        # (due on the monotonic clock, sequence, outcome, the lead's source)
        self.due: list[tuple[float, int, Outcome, str]] = []
        self._seq = 0
        self.engagement_topic = engagement_topic
        # A stream of its own: turning engagement on or off never changes the leads.
        self.engagement_rng = random.Random(summary.seed ^ ENGAGEMENT_SEED_SALT)

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        source: str,
        headers: Mapping[str, str] = _NO_HEADERS,
    ) -> None:
        wire_headers = [*headers.items(), (SOURCE_HEADER, source)]
        while True:
            try:
                self.producer.produce(topic, value, key, headers=wire_headers)
                self.summary.handed_over += 1
                return
            except BufferError:
                # The local queue is full: let librdkafka deliver before adding more.
                self.producer.poll(0.05)

    def send_lead(self, event: GeneratedEvent) -> None:
        if self.engagement_topic is not None:
            for engagement in engagement_for(event, self.engagement_rng):
                self.send(self.engagement_topic, engagement_key(engagement), encode(engagement),
                          event.source)
                self.summary.engagement_sent += 1
        self.send(self.summary.topics[event.source], event.key, event.value, event.source,
                  event.headers)
        self.summary.record_event(event)
        if event.valid and self.outcome_delay is not None:
            delay, outcome = self.generator.outcome(event, self.outcome_delay)
            self._seq += 1
            heapq.heappush(self.due, (time.monotonic() + delay, self._seq, outcome, event.source))

    def send_due_outcomes(self) -> None:
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            _, _, outcome, source = heapq.heappop(self.due)
            key = outcome.lead_id.encode()
            self.send(self.summary.outcomes_topic, key, encode(outcome), source)
            self.summary.record_outcome(outcome)

    def idle(self, seconds: float, stop: _Stop) -> None:
        """Wait without spinning, serving delivery reports and outcomes as they fall due."""
        until = time.monotonic() + seconds
        while not stop.requested:
            self.send_due_outcomes()
            now = time.monotonic()
            if now >= until:
                return
            next_due = self.due[0][0] if self.due else until
            self.producer.poll(max(0.0, min(until, next_due, now + _POLL_MAX_S) - now))


def produce(
    settings: Settings,
    *,
    sources: Sequence[str],
    rate: float,
    count: int,
    seed: int,
    malformed_share: float,
    outcome_delay: float | None,
    fraud_share: float = 0.0,
    duplicate_share: float = 0.0,
    now: Callable[[], datetime] | None = None,
    manifest_limit: int = 1_000_000,
    progress_every: float = 2.0,
    engagement: bool = False,
) -> ProduceSummary:
    """Send `count` lead events across `sources` at `rate` events/s (0 = flat out), then outcomes.

    `now` is the clock event times are stamped from (default: the wall clock, UTC).
    At most `manifest_limit` events are kept for the manifest, so endless demo
    traffic runs in bounded memory.
    """
    # Handlers first: building the generator takes seconds, and `aiqleads run` may stop
    # us with SIGTERM meanwhile.
    with _stop_on_signals() as stop:
        try:
            generator = TrafficGenerator(
                sources,
                seed=seed,
                malformed_share=malformed_share,
                fraud_share=fraud_share,
                duplicate_share=duplicate_share,
                clock=now,
            )
        except ValueError as exc:  # a source with no generator yet, a share outside [0, 1]
            raise click.UsageError(str(exc)) from exc
        summary = ProduceSummary(
            sources=tuple(sources),
            topics={source: settings.topic(f"leads.raw.{source}") for source in sources},
            outcomes_topic=settings.topic("leads.outcomes"),
            seed=seed,
            manifest_limit=manifest_limit,
        )
        try:
            ensure_topics(settings)
        except KafkaUnavailable as exc:
            raise click.ClickException(str(exc)) from exc

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                summary.record_failure(f"{msg.topic()}: {err.str()}")

        producer = Producer({**producer_config(settings), "on_delivery": on_delivery})
        run = _Run(producer, generator, summary, outcome_delay,
                   settings.topic("engagement.events") if engagement else None)
        started = time.monotonic()
        progress = _Progress(progress_every, started)
        bucket = TokenBucket(rate, now=started)
        try:
            for _ in range(count):
                wait = bucket.wait(time.monotonic())
                if wait > 0:
                    run.idle(wait, stop)
                if stop.requested:
                    break
                run.send_lead(generator.next_event())
                run.send_due_outcomes()
                producer.poll(0)
                progress.maybe(summary, len(run.due), len(producer))
            summary.leads_elapsed_s = time.monotonic() - started
            while run.due and not stop.requested:
                run.idle(max(0.0, run.due[0][0] - time.monotonic()), stop)
                progress.maybe(summary, len(run.due), len(producer))
        except KeyboardInterrupt:  # a second Ctrl-C while a handler was not installed
            stop.requested = True
        finally:
            summary.interrupted = stop.requested
            summary.outcomes_pending = len(run.due)
            remaining = producer.flush(_FLUSH_TIMEOUT_S)
            if remaining:
                summary.record_failure("still queued after flush", count=remaining)
            summary.delivered = summary.handed_over - summary.failed
            summary.elapsed_s = time.monotonic() - started
            if not summary.leads_elapsed_s:
                summary.leads_elapsed_s = summary.elapsed_s
            progress.done()
    return summary
